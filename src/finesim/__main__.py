from finesim.cli.main import main

main()
