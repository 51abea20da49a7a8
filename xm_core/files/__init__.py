"""The host's files and their formats: paths under the root, domain configs, the
resource label file, save files, GRUB menus, atomic writes. Imports only `acm`."""
