#!/usr/bin/env python
"""Django's command-line utility for the streamdump example project."""

import os
import sys
from pathlib import Path


def main() -> None:
    """Run a management command with the repository root importable."""
    # The repo root holds the streamdump package; put it first so the working tree is used
    # even when streamdump is not pip-installed (or an older copy is installed).
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "example_project.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
