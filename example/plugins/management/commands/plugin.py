"""Management command: enable, disable or list the plugins of a database."""

from __future__ import annotations

from argparse import ArgumentParser
from importlib import import_module
from typing import Any

from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DEFAULT_DB_ALIAS, connections

from plugins.models import PluginConfig
from plugins.registry import (
    PLUGIN_NAMESPACE,
    PLUGIN_TABLE,
    is_importable,
    known_plugins,
    reload,
)
from streamdump.management.base import DatabaseCommand


class Command(DatabaseCommand):
    help = "Enable, disable or list plugins (PluginConfig rows) of a database."

    def add_arguments(self, parser: ArgumentParser) -> None:
        """Declare the action, the plugin key and --database."""
        parser.add_argument("action", choices=["enable", "disable", "list"])
        parser.add_argument("key", nargs="?", help="plugin key, e.g. sensors")
        parser.add_argument(
            "--database", default=DEFAULT_DB_ALIAS, help='database alias (default "default")'
        )

    def handle(self, *args: Any, **options: Any) -> None:
        """Dispatch to the action."""
        database = options["database"]
        if PLUGIN_TABLE not in connections[database].introspection.table_names():
            raise CommandError(f"database {database!r} is not migrated (no {PLUGIN_TABLE})")
        action, key = options["action"], options["key"]
        if action == "list":
            self.list(database)
            return
        if not key:
            raise CommandError(f"plugin {action} needs a plugin key")
        if action == "enable":
            self.enable(key, database)
        else:
            self.disable(key, database)

    def enable(self, key: str, database: str) -> None:
        """Activate the plugin, install its app and migrate its tables."""
        package = f"{PLUGIN_NAMESPACE}.{key}"
        if not key.isidentifier() or not is_importable(package):
            known = ", ".join(sorted(known_plugins())) or "none"
            raise CommandError(f"unknown plugin {key!r} (known plugins: {known})")
        name = getattr(import_module(package), "NAME", key)
        PluginConfig.objects.using(database).update_or_create(
            key=key, defaults={"name": name, "package": package, "active": True}
        )
        reload(database)
        call_command("migrate", database=database, interactive=False, verbosity=0)
        self.stdout.write(self.style.SUCCESS(f"plugin {key} enabled in {database!r}"))

    def disable(self, key: str, database: str) -> None:
        """Deactivate the plugin and uninstall its app; its tables and rows stay."""
        updated = PluginConfig.objects.using(database).filter(key=key).update(active=False)
        if not updated:
            raise CommandError(f"plugin {key!r} is not configured in {database!r}")
        reload(database)
        self.stdout.write(self.style.SUCCESS(f"plugin {key} disabled in {database!r}"))

    def list(self, database: str) -> None:
        """Print every known or configured plugin with its state in the database."""
        rows = {row.key: row for row in PluginConfig.objects.using(database).order_by("key")}
        for key in sorted(set(rows) | set(known_plugins())):
            row = rows.get(key)
            state = "active" if row and row.active else "inactive" if row else "not configured"
            package = row.package if row else f"{PLUGIN_NAMESPACE}.{key}"
            importable = "" if is_importable(package) else "  (not importable)"
            self.stdout.write(f"{key:<20} {state:<15} {package}{importable}")
