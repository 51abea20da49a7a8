"""The host model: the SQLite store, the active policy, domains, devices, their
life cycle, labels, compiling and loading policies, the boot policy."""
