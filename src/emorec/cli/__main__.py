"""``python -m emorec.cli``, as ``python -m emorec`` and the ``emorec`` console script."""

from . import main

main()
