from xm_core.launch import main

main()
