"""Front end: the `xm` command line (click), its fast launcher and the demo.

The package itself imports nothing, so that `xm_core.cli.launch` can run
`xm makepolicy` without loading click; the click group is in `commands`.
"""
