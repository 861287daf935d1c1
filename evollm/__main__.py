from evollm.cli import main

main()
