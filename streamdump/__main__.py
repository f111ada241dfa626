"""`python -m streamdump` runs the console script."""

import sys

from .interrupts import quiet_start

quiet_start("streamdump: interrupted")  # until main() runs: Ctrl-C is one line (interrupts.py)

from .cli import main  # noqa: E402

sys.exit(main())
