"""`python -m ragtune ...`: the `ragtune` command, for a child process started with this interpreter."""

from ragtune.cli import main

main()
