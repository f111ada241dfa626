"""Django app config: adding "streamdump" to INSTALLED_APPS provides the management commands."""

from typing import Any

from django.apps import AppConfig, apps

from . import cpuwatch
from .interrupts import COMMANDS, quiet_start, starting_command


class StreamdumpConfig(AppConfig):
    name = "streamdump"
    verbose_name = "streamdump"

    def __init__(self, app_name: str, app_module: Any) -> None:
        """Made at the start of Django's set-up: from here, in `manage.py dumpstream` or
        `loadstream`, Ctrl-C before the command runs is one line, not a traceback
        (interrupts.py); in `loadstream`, the CPUs are watched from here (cpuwatch.py)."""
        command = starting_command()
        if command is not None:
            quiet_start(COMMANDS[command])
        if command == "loadstream":  # a fixture's first-pass helper is decided on soon after
            cpuwatch.watch_from_start()
        super().__init__(app_name, app_module)

    def ready(self) -> None:
        """In `manage.py dumpstream`, watch the writes the applications make while starting.

        Apps listed after streamdump in INSTALLED_APPS run their ready() after this one, so
        their start-up writes are seen; the export names the apps listed before it.
        """
        from .watch import exporting_command, watch_writes

        if exporting_command():
            labels = [c.name for c in apps.get_app_configs()]
            before = labels[: labels.index(self.name)]
            watch_writes(unseen_apps=[n for n in before if not n.startswith("django.")])
