"""``python -m lib.cli``: the command line (lib.cli.main)."""
import sys

from lib.cli.main import main

# Guarded like any entry point of a program that starts worker processes (``forecast --workers``).
if __name__ == "__main__":
    sys.exit(main())
