from libs.platform.cli.app import main

main()
