from bench.fuzz import main

main()
