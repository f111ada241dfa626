"""Run one example-project management command and write its own duration to a file.

Usage: timed_manage.py TIMING_FILE COMMAND [ARGS...]. The time covers the command only, not the
interpreter's and Django's start-up, which streamdump and dumpdata/loaddata pay alike. The
commands run with DEBUG off, as in production.
"""

import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    timing, argv = Path(sys.argv[1]), sys.argv[2:]
    sys.path[:0] = [str(ROOT / "example"), str(ROOT)]
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "example_project.settings")
    import django
    from django.core.management import call_command

    django.setup()
    from django.conf import settings

    # As in production: the example project runs with DEBUG on, which wraps every cursor to
    # log its queries. That costs dumpdata, loaddata and streamdump alike.
    settings.DEBUG = False
    started = time.perf_counter()
    call_command(*argv)
    timing.write_text(f"{time.perf_counter() - started:.6f}")


if __name__ == "__main__":
    main()
