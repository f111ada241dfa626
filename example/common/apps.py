"""App config of the common app: creates the start-up settings after every migrate."""

from __future__ import annotations

import uuid
from typing import Any

from django.apps import AppConfig
from django.db import connections, router
from django.db.models.signals import post_migrate


def startup_settings() -> dict[str, str]:
    """The settings every installation has, with their initial values.

    INSTANCE_ID is random per installation, so two freshly migrated databases always differ
    in it: a naive import of one into the other collides on the unique key.
    """
    return {
        "INSTANCE_ID": uuid.uuid4().hex,
        "SITE_NAME": "Example Inventory",
        "CURRENCY": "EUR",
    }


def create_startup_settings(
    sender: AppConfig, using: str = "default", apps: Any = None, **kwargs: Any
) -> None:
    """post_migrate handler: get_or_create the start-up settings in the migrated database."""
    try:
        # The historical model of the migration state, as Django's own handlers use.
        setting = (apps or sender.apps).get_model("common", "Setting")
    except LookupError:  # common's migrations were not applied (e.g. migrate to zero)
        return
    if not router.allow_migrate_model(using, setting):
        return
    if setting._meta.db_table not in connections[using].introspection.table_names():
        return
    manager = setting._base_manager.db_manager(using)
    for key, value in startup_settings().items():
        manager.get_or_create(key=key, defaults={"value": value})


class CommonConfig(AppConfig):
    name = "common"
    verbose_name = "Common settings"

    def ready(self) -> None:
        """Connect the start-up settings handler (once, even if the registry re-populates)."""
        post_migrate.connect(
            create_startup_settings, sender=self, dispatch_uid="common.create_startup_settings"
        )
