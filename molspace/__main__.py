from molspace.cli import main

main()
