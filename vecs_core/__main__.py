"""``python -m vecs_core``: the ``vecs-core`` command line (see :mod:`vecs_core.cli`)."""

from .cli import main

main()
