from devcluster.cli import main

main()
