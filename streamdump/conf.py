"""The STREAMDUMP settings dict, with defaults that work for a plain Django project."""

from __future__ import annotations

import dataclasses
from typing import Any

from django.conf import settings

from .framing import DEFAULT_MAX_LINE


@dataclasses.dataclass(frozen=True)
class Config:
    """Resolved STREAMDUMP settings; each attribute is the lower-case form of its key."""

    auth_models: tuple[str, ...] = ()  # default: the user model and auth.Group
    settings_models: tuple[str, ...] = ()
    plugin_config_models: tuple[str, ...] = ()
    startup_models: tuple[str, ...] = ()  # rows the target writes itself, replaced like settings
    plugin_reload: str | None = None
    exclude: tuple[str, ...] = ("sessions",)
    natural_key_models: tuple[str, ...] = ("contenttypes.ContentType", "auth.Permission")
    batch_size: int = 2000
    batch_bytes: int = 1 << 20  # a batch also closes at this many bytes of encoded rows
    compression_level: int = 3
    compression_threads: int = 1  # zstd threads beside the one reading rows (writer.py)
    max_line_bytes: int = DEFAULT_MAX_LINE  # longer lines of an input are refused as read
    app_version: str | None = None
    portable_inserts: bool = False  # executemany everywhere instead of COPY / multi-row INSERT
    # PostgreSQL: a table receiving at least this many rows gets its foreign keys and indexes
    # re-created after them (backends/postgresql.py); None: never. Re-creating one costs about
    # 5 ms even on an empty table, and saves about 6.7 µs of server time per row
    # (docs/PERFORMANCE.md): at 10,000 rows a table gains about 2.5 times what its rebuild costs.
    rebuild_min_rows: int | None = 10_000
    mysql_load_data: str | bool = "auto"  # MariaDB: LOAD DATA LOCAL INFILE where allowed; on, off
    # Large sections decoded in a second process (decodeworker.py) where a core was free lately
    # (cpuwatch.py); "always": whether or not; False: never.
    decode_worker: bool | str = True
    decode_worker_min_rows: int = 2000  # smaller sections are decoded in the importing one


def get_config() -> Config:
    """Read settings.STREAMDUMP, filling in defaults; unknown keys are an error."""
    raw = dict(getattr(settings, "STREAMDUMP", None) or {})
    names = {f.name.upper(): f.name for f in dataclasses.fields(Config)}
    unknown = sorted(set(raw) - set(names))
    if unknown:
        from django.core.exceptions import ImproperlyConfigured

        raise ImproperlyConfigured(
            f"STREAMDUMP has unknown keys {unknown}; known keys: {sorted(names)}"
        )
    values: dict[str, Any] = {
        names[key]: tuple(value) if isinstance(value, (list, tuple)) else value
        for key, value in raw.items()
    }
    values.setdefault("auth_models", (settings.AUTH_USER_MODEL, "auth.Group"))
    return Config(**values)


def activate_plugins(config: Config, using: str) -> None:
    """Call STREAMDUMP["PLUGIN_RELOAD"], if set: install the plugins that `using` activates.

    Export and digest call it first: a process that skipped the application's start-up (the
    console script) would otherwise silently leave the active plugins' tables out.
    """
    if config.plugin_reload:
        from django.utils.module_loading import import_string

        import_string(config.plugin_reload)(using)
