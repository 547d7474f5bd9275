"""``python -m softswitch``: the same command line as the ``softswitch`` console script."""

import sys

from softswitch.cli import main

sys.exit(main())
