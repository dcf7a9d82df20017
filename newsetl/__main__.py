from newsetl.cli import main

main()
