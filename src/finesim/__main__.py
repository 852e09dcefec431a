from finesim.cli import main

main()
