"""`python -m bot` does what `kinfolk run` does."""

import sys

from bot.cli import main

# Guarded: the picture workers are started with "spawn", which imports the main module of
# the process again in each worker (as `__mp_main__`); unguarded, each would start a bot.
if __name__ == "__main__":
    sys.exit(main(["run", *sys.argv[1:]]))
