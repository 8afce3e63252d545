"""``python -m nnlab.cli``: the ``nnlab`` command (tuning's worker processes use it)."""

import sys

from .main import main

sys.exit(main())
