"""A fleet of hosts: the shared inventory (SQLite or PostgreSQL), placement
that asks each host's own engine, and the operations that act through each
host's own create and migrate. It sits above the host: it imports `host`,
`insight` and `files`, and nothing below imports it."""
