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
    import django
    from django.core.management import execute_from_command_line

    django.setup()
    activate_plugins()
    # execute_from_command_line() calls django.setup() again: a no-op once the registry is ready.
    execute_from_command_line(sys.argv)


def activate_plugins(using: str = "default") -> None:
    """Install the plugin apps active in the "default" database before the command runs."""
    from django.core.exceptions import ImproperlyConfigured
    from django.db import DatabaseError, connections
    from plugins.registry import reload

    try:
        connection = connections[using]
        if connection.vendor == "sqlite" and not connection.is_in_memory_db():
            if not Path(connection.settings_dict["NAME"]).exists():
                return  # connecting would create an empty file as a side effect
        try:
            reload(using)
        finally:
            connection.close()  # leave no connection open from this probe
    except (DatabaseError, ImproperlyConfigured):
        # No database yet (server database not created, no tables before migrate, driver
        # missing): no plugins. The command itself reports real database problems.
        pass


if __name__ == "__main__":
    main()
