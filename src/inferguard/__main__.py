from inferguard.cli import main

main()
