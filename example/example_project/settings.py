"""Settings for the streamdump example project.

The databases behind the "default" and "target" aliases are picked by environment variables so
that tests and the demo can point separate processes at separate databases:

* ``EXAMPLE_DB`` = ``sqlite`` (default) | ``postgresql`` | ``mysql``
* ``EXAMPLE_DB_NAME`` = SQLite file path or server database name
* ``EXAMPLE_TARGET_DB`` (default: ``EXAMPLE_DB``) and ``EXAMPLE_TARGET_DB_NAME`` for "target"

For tests, ``EXAMPLE_SQUASH`` = a variant of ``squashing/variants`` installs the squashing app
with those migrations; ``EXAMPLE_RELEASE`` = 1 or 2 installs the upgrading app at that release;
``EXAMPLE_SENSORS_RELEASE`` = 1 (default) or 2 picks the sensors plugin's release;
``EXAMPLE_STARTUP_WRITES`` = 1 makes the inventory app write a row at
start-up (in ready()), and ``EXAMPLE_STARTUP_MODELS`` = comma-separated labels sets
STREAMDUMP["STARTUP_MODELS"].
"""

import os
from pathlib import Path
from typing import Any

BASE_DIR = Path(__file__).resolve().parent.parent

SECRET_KEY = "streamdump-example-not-secret"  # dummy key: local demo only
DEBUG = True
ALLOWED_HOSTS = ["*"]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "streamdump",
    "common",
    "plugins",
    "inventory",
    "textheavy",  # the second benchmark schema: empty unless generate --schema textheavy fills it
]
_SQUASH = os.environ.get("EXAMPLE_SQUASH")
if _SQUASH:
    INSTALLED_APPS.append("squashing")
    MIGRATION_MODULES = {"squashing": f"squashing.variants.{_SQUASH}"}
_RELEASE = os.environ.get("EXAMPLE_RELEASE")
if _RELEASE:  # the upgrading app at release 1 or 2 (upgrading/__init__.py)
    INSTALLED_APPS.append("upgrading")
    MIGRATION_MODULES = {
        **globals().get("MIGRATION_MODULES", {}),
        "upgrading": f"upgrading.releases.r{_RELEASE}",
    }
if os.environ.get("EXAMPLE_SENSORS_RELEASE", "1") != "1":  # the sensors plugin's release 2
    MIGRATION_MODULES = {
        **globals().get("MIGRATION_MODULES", {}),
        "sensors": "example_plugins.sensors.releases.r2",
    }
# Plugin apps (example_plugins.*) are not listed here: plugins.registry.reload() adds the ones
# whose PluginConfig row is active in the database, as manage.py does at start-up.

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]

ROOT_URLCONF = "example_project.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

_DEFAULT_NAMES = {
    "default": (str(BASE_DIR / "db.sqlite3"), "streamdump_example"),
    "target": (str(BASE_DIR / "target.sqlite3"), "streamdump_example_target"),
}


def database(vendor: str, name: str) -> dict[str, Any]:
    """Build one DATABASES entry for vendor "sqlite", "postgresql" or "mysql"."""
    if vendor == "sqlite":
        # TEST NAME stays unset so pytest-django uses an in-memory database.
        return {"ENGINE": "django.db.backends.sqlite3", "NAME": name}
    if vendor == "postgresql":
        return {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": name,
            "HOST": "127.0.0.1",
            "PORT": "5432",
            "USER": "postgres",
            "PASSWORD": "",
            # Distinct test names per alias keep pytest-django's databases from colliding.
            "TEST": {"NAME": f"test_{name}"},
        }
    if vendor == "mysql":
        return {
            "ENGINE": "django.db.backends.mysql",
            "NAME": name,
            "HOST": "127.0.0.1",
            "PORT": "3306",
            "USER": "root",
            "PASSWORD": "",
            "OPTIONS": {"charset": "utf8mb4"},
            # utf8mb4_bin: case- and accent-sensitive, so unique text values round-trip exactly.
            "TEST": {"NAME": f"test_{name}", "CHARSET": "utf8mb4", "COLLATION": "utf8mb4_bin"},
        }
    raise ValueError(f"unsupported database vendor {vendor!r}; use sqlite, postgresql or mysql")


def _alias(alias: str, vendor: str, name_var: str) -> dict[str, Any]:
    sqlite_name, server_name = _DEFAULT_NAMES[alias]
    name = os.environ.get(name_var) or (sqlite_name if vendor == "sqlite" else server_name)
    return database(vendor, name)


_DB = os.environ.get("EXAMPLE_DB", "sqlite")
_TARGET_DB = os.environ.get("EXAMPLE_TARGET_DB", _DB)

DATABASES = {
    "default": _alias("default", _DB, "EXAMPLE_DB_NAME"),
    "target": _alias("target", _TARGET_DB, "EXAMPLE_TARGET_DB_NAME"),
}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# The streamdump library reads its settings from this dict. Import order: auth, then the settings
# rows the app creates at start-up, then the plugin configuration, then PLUGIN_RELOAD(alias)
# installs the imported active plugins and migrate runs again, then the remainder.
STREAMDUMP: dict[str, Any] = {
    "SETTINGS_MODELS": ["common.Setting"],
    "PLUGIN_CONFIG_MODELS": ["plugins.PluginConfig"],
    "PLUGIN_RELOAD": "plugins.registry.reload",
}
if os.environ.get("EXAMPLE_STARTUP_MODELS"):
    STREAMDUMP["STARTUP_MODELS"] = os.environ["EXAMPLE_STARTUP_MODELS"].split(",")
if os.environ.get("EXAMPLE_REBUILD_MIN_ROWS"):  # tests: rebuild keys and indexes of small tables
    STREAMDUMP["REBUILD_MIN_ROWS"] = int(os.environ["EXAMPLE_REBUILD_MIN_ROWS"])
if os.environ.get("EXAMPLE_DECODE_WORKER_MIN_ROWS"):  # tests: a worker for small sections too
    STREAMDUMP["DECODE_WORKER_MIN_ROWS"] = int(os.environ["EXAMPLE_DECODE_WORKER_MIN_ROWS"])
if os.environ.get("EXAMPLE_DECODE_WORKER"):  # tests: "always", even on a busy machine
    STREAMDUMP["DECODE_WORKER"] = os.environ["EXAMPLE_DECODE_WORKER"]

USE_TZ = True
TIME_ZONE = "UTC"
LANGUAGE_CODE = "en-us"
USE_I18N = True

STATIC_URL = "static/"
MEDIA_ROOT = os.environ.get("EXAMPLE_MEDIA_ROOT") or BASE_DIR / "media"
MEDIA_URL = "media/"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {
        # StreamHandler writes to stderr by default, keeping stdout free for command output.
        "console": {"class": "logging.StreamHandler", "formatter": "plain"},
    },
    "loggers": {
        "streamdump": {"handlers": ["console"], "level": "INFO", "propagate": False},
    },
}
