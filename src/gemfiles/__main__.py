from gemfiles.cli import main

main()
