"""``python -m flowinpaint``: the command line (see :mod:`flowinpaint.cli`)."""

from .cli import main

if __name__ == "__main__":
    raise SystemExit(main())
