"""``python -m heal`` = the ``heal`` command."""

from heal.cli import main

main()
