"""`python -m ot` is the `ot` command."""

from ot.cli import main

main()
