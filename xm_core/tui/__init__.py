"""The terminal programs: `xm console` (follow a domain's console log),
`xm top` (a live view of every domain and the ACM's state) and `xm shell`
(an `xm>` prompt). Each entry function takes what it needs as arguments;
the command line (xm_core.cli.terminal) starts them and never the reverse,
so this package imports neither cli nor web."""
