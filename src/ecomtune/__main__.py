"""`python -m ecomtune` == `ecomtune`."""
from ecomtune.cli.app import main

main()
