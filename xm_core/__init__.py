"""The host: paths under a root, the SQLite state, domains and devices,
config files, GRUB editing, and the `xm` command line."""
