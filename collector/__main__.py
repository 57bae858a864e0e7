"""`python -m collector` runs the command line."""

from collector._cli._main import main

main()
