from xm_core.cli import main

main()
