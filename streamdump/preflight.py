"""Checks made before anything is written: migrations, models and columns of every section."""

from __future__ import annotations

from django.apps import apps

from .conf import Config
from .dbinfo import applied_migrations
from .tables import Table, phase_of


def installed_table(label: str, config: Config) -> Table | None:
    """The target's Table for a model label from a stream, or None when not installed."""
    app_label, _, model_name = label.partition(".")
    try:
        model = apps.get_model(app_label, model_name)
    except LookupError:
        return None
    natural = frozenset(config.natural_key_models)
    return Table(model, phase_of(model, config), natural)


def migration_problems(dumped: dict[str, list[str]], using: str) -> list[str]:
    """Differences between the dump's applied migrations and the target's, per app."""
    target = applied_migrations(using)
    problems = []
    for app in sorted(set(dumped) | set(target)):
        ours, theirs = set(target.get(app, ())), set(dumped.get(app, ()))
        for name in sorted(theirs - ours):
            problems.append(f"migration {app}.{name} is applied in the dump but not in the target")
        for name in sorted(ours - theirs):
            problems.append(f"migration {app}.{name} is applied in the target but not in the dump")
    return problems


def table_problems(described: dict, config: Config) -> tuple[Table | None, list[str]]:
    """Map one described table of the stream onto the target; list what does not fit."""
    label = described["model"]
    table = installed_table(label, config)
    if table is None:
        return None, [f"model {label} (table {described.get('table')}) is not installed"]
    problems = []
    if table.db_table != described.get("table"):
        problems.append(
            f"model {label}: the dump's table is {described.get('table')}, "
            f"the target's is {table.db_table}"
        )
    dumped = {name: codec for name, codec in described["columns"]}
    ours = dict(zip(table.columns, table.codecs, strict=True))
    for column in sorted(set(dumped) - set(ours)):
        problems.append(f"model {label}: column {column} is in the dump but not in the target")
    for column in sorted(set(ours) - set(dumped)):
        problems.append(f"model {label}: column {column} is in the target but not in the dump")
    for column in sorted(set(ours) & set(dumped)):
        if ours[column] != dumped[column]:
            problems.append(
                f"model {label}: column {column} holds {dumped[column]} values in the dump, "
                f"{ours[column]} in the target"
            )
    return table, problems
