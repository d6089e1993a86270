"""``python -m vqcore ...``: same as the ``vqcore`` command."""
from .cli import main

if __name__ == "__main__":
    raise SystemExit(main())
