"""Install the apps of the plugins that are active in a database.

Like InvenTree, the set of installed apps depends on database content: every PluginConfig row
with ``active=True`` adds its ``package`` (a Django app) to INSTALLED_APPS. ``reload(using)`` is
what ``manage.py`` calls at start-up and what streamdump calls as ``STREAMDUMP["PLUGIN_RELOAD"]``
after importing the plugin configuration.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import pkgutil

from django.apps import apps
from django.conf import settings
from django.core.management import get_commands
from django.db import connections

logger = logging.getLogger(__name__)

PLUGIN_TABLE = "plugins_pluginconfig"
PLUGIN_NAMESPACE = "example_plugins"

_base_apps: list[str] | None = None


def base_apps() -> list[str]:
    """INSTALLED_APPS as settings.py defines it, remembered before the first reload."""
    global _base_apps
    if _base_apps is None:
        _base_apps = list(settings.INSTALLED_APPS)
    return list(_base_apps)


def is_importable(package: str) -> bool:
    """Whether ``package`` names a module that can be imported here."""
    try:
        return importlib.util.find_spec(package) is not None
    except (ImportError, ValueError):  # a missing parent package, or an empty/relative name
        return False


def known_plugins() -> dict[str, str]:
    """Key -> package of every plugin found in the example_plugins package, sorted by key."""
    namespace = importlib.import_module(PLUGIN_NAMESPACE)
    found = sorted(info.name for info in pkgutil.iter_modules(namespace.__path__) if info.ispkg)
    return {name: f"{PLUGIN_NAMESPACE}.{name}" for name in found}


def active_packages(using: str = "default") -> list[str]:
    """The package of every active PluginConfig row of ``using``, ordered by key.

    Returns [] while the plugin table does not exist yet (before migrate).
    """
    if PLUGIN_TABLE not in connections[using].introspection.table_names():
        return []
    # Imported here: the registry module is imported by manage.py before any command runs.
    from .models import PluginConfig

    return list(
        PluginConfig.objects.using(using)
        .filter(active=True)
        .order_by("key")
        .values_list("package", flat=True)
    )


def reload(using: str = "default") -> list[str]:
    """Make the installed apps the base apps plus the active plugins of ``using``.

    The app registry is re-populated only if that changes the installed apps. Active plugins
    whose package cannot be imported here are skipped with a warning (as InvenTree does for
    plugins that are configured but not installed). Returns the plugin packages installed.
    """
    base = base_apps()
    packages = []
    for package in active_packages(using):
        if package in base or package in packages:
            continue
        if not is_importable(package):
            logger.warning("plugin package %r is active in %r but not importable", package, using)
            continue
        packages.append(package)
    wanted = base + packages
    if wanted != list(settings.INSTALLED_APPS):
        previous = settings.INSTALLED_APPS
        old_models = apps.get_models(include_auto_created=True)
        settings.INSTALLED_APPS = wanted
        try:
            apps.set_installed_apps(wanted)
        except Exception:
            # A plugin failed while populating: restore the previous, working registry.
            apps.loading = False  # populate() failed half-way and left its re-entry guard set
            apps.unset_installed_apps()
            settings.INSTALLED_APPS = previous
            raise
        # set_installed_apps() pushes the previous configs for unset_installed_apps(); a reload
        # replaces them rather than nesting, so drop that entry (keeps override_settings
        # balanced and the stack from growing with every reload).
        apps.stored_app_configs.pop()
        # populate() clears the registry caches while not ready, which skips expiring the models'
        # _meta caches: reverse relations (Part._meta.related_objects -> Sensor) would stay as
        # they were. Expire them now, for the models installed before and after.
        apps.clear_cache()
        for model in old_models:
            model._meta._expire_cache()
        get_commands.cache_clear()  # plugins may bring management commands
    return packages
