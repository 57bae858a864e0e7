"""`python -m collector` runs the command line."""

from ._cli import main

main()
