"""``python -m api`` is the ``trioflow`` command."""

from ._cli import main

main()
