from target_quickbooks.target import main

main()
