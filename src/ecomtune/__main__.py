"""`python -m ecomtune` == `ecomtune`."""
from ecomtune.cli.main import main

main()
