from xm_core.cli.launch import main

main()
