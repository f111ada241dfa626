"""A dump older than the target's code: schema at the dump's state, import, migrate forward.

When every difference between the dump's migrations and the target's code is a migration the
code has beyond the dump's state (migrationstate.py), the import runs at the dump's state:
the target is migrated to the dump's per-app latest migrations (forwards from a never-migrated
target, backwards from one migrated further), its sections are checked and decoded against the
historical models of that state, then the target is migrated forward, so that the
application's own data migrations run on the imported rows as an in-place upgrade would.

Plugin apps that the dump's plugin configuration activates during the import are decided
after they are activated (their migrations are unknown before): plan_after_reload takes them to
the dump's state too, and migrate_forward then moves them on with everything else.

The sequencer runs all of it in its one transaction where DDL is transactional (PostgreSQL,
SQLite); elsewhere (MariaDB) journaled: the journal records every table's definition and rows
before the first migration, so a failure puts a migrated target's schema back too.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from django.apps import apps
from django.apps.registry import Apps
from django.core.management.sql import emit_post_migrate_signal, emit_pre_migrate_signal
from django.db import models
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.migrations.executor import MigrationExecutor
from django.db.migrations.recorder import MigrationRecorder

from .backends import backend_for
from .errors import SchemaMismatch, StreamdumpError
from .migrationstate import Key, dump_state_nodes, is_older_only, migration_problems

log = logging.getLogger("streamdump")


def _label(key: Key) -> str:
    return f"{key[0]}.{key[1]}"


@dataclass
class Upgrade:
    """Where the target's schema goes for the import, and the models the sections fit there."""

    nodes: list[Key]  # migrate targets: (app, name), or (app, None) for an app at zero
    changing: set[str]  # apps whose state at the dump differs from the code's
    historical: Apps | None = None
    forward: list[str] = field(default_factory=list)  # the migrations run after the import

    def get_model(self, app_label: str, model_name: str) -> type[models.Model]:
        """The model a section is decoded with: historical for the apps that move on."""
        if app_label in self.changing and self.historical is not None:
            return self.historical.get_model(app_label, model_name)
        return apps.get_model(app_label, model_name)


def plan_upgrade(
    connection: BaseDatabaseWrapper, header: dict[str, Any], app_labels: set[str]
) -> Upgrade:
    """The upgrade for this dump and target, or SchemaMismatch naming why it cannot be done.

    Reads only. Refused: a dump whose state is inside a squash the target applies whole, and a
    target that must go backwards through a migration that cannot be reversed.
    """
    executor = MigrationExecutor(connection)
    graph = executor.loader.graph
    nodes = dump_state_nodes(header, app_labels)
    problems = [
        _inside_squash(key, executor.loader.replacements)
        for key in nodes
        if key[1] is not None and key not in graph.nodes
    ]
    if problems:
        raise SchemaMismatch(problems)
    leaves = {key for key in graph.leaf_nodes() if key[0] in app_labels}
    changing = {app for app, _ in leaves} - {key[0] for key in nodes if key in leaves}
    for migration, backwards in executor.migration_plan(nodes):
        if backwards:
            irreversible = [op for op in migration.operations if not op.reversible]
            if irreversible:
                problems.append(
                    f"migration {migration.app_label}.{migration.name} cannot be reversed "
                    f"({type(irreversible[0]).__name__} without a reverse), and this target is "
                    "migrated beyond the dump's state: import into a never-migrated database"
                )
    if problems:
        raise SchemaMismatch(problems)
    state_nodes = [key for key in nodes if key[1] is not None]
    upgrade = Upgrade(nodes, changing)
    upgrade.historical = executor.loader.project_state(state_nodes, at_end=True).apps
    return upgrade


def plan_after_reload(
    connection: BaseDatabaseWrapper, header: dict[str, Any], activated: set[str]
) -> Upgrade | None:
    """After the plugin apps `activated` were installed: the upgrade for every installed app
    when the dump is older than the code of any (None: the dump is at the code's state).

    Other differences (a plugin of newer code in the dump) raise SchemaMismatch naming them, as
    plan_upgrade's refusals do. Where DDL commits (MariaDB), a plugin app that the target
    already has migrations of is refused: its schema could not be put back after a failure.
    """
    installed = {app_config.label for app_config in apps.get_app_configs()}
    problems = migration_problems(header, installed)
    if not problems:
        return None
    if not is_older_only(problems):
        raise SchemaMismatch(problems)
    if not connection.features.can_rollback_ddl:
        applied = MigrationRecorder(connection).applied_migrations()
        already = sorted(_label(key) for key in applied if key[0] in activated)
        if already:
            raise SchemaMismatch(
                [
                    *problems,
                    f"on {connection.display_name} (DDL commits) streamdump upgrades the dump's "
                    f"plugin apps only where the target has none of their migrations, and it "
                    f"has {', '.join(already)}: use a new, empty database",
                ]
            )
    upgrade = plan_upgrade(connection, header, installed)
    log.info(
        "the dump is older than the code of its plugin apps too: importing at its state (%s), "
        "then migrating forward",
        ", ".join(f"{a}.{n or 'zero'}" for a, n in upgrade.nodes if a in upgrade.changing),
    )
    return upgrade


def _inside_squash(key: Key, replacements: dict[Key, Any]) -> str:
    """The refusal of a dump's state that Django's graph for this target does not hold."""
    squash = next((k for k, m in replacements.items() if key in map(tuple, m.replaces)), None)
    if squash is None:  # not expected: the target's code knows every migration of the dump
        return f"the dump's state {_label(key)} is not in this target's migration graph"
    replaced = ", ".join(_label(tuple(k)) for k in replacements[squash].replaces)
    return (
        f"the dump's state {_label(key)} is inside the squashed migration {_label(squash)} "
        f"(which replaces {replaced}), and this target's code applies that squash whole: "
        "Django cannot migrate to a point inside it; import the dump with the code of its own "
        "release, then migrate"
    )


def migrate_to(connection: BaseDatabaseWrapper, targets: list[Key], what: str) -> int:
    """Migrate the target to these nodes as `manage.py migrate` would (signals included);
    return the number of migrations run. A failing migration is named in the error."""
    executor = MigrationExecutor(connection)
    executor.loader.check_consistent_history(connection)
    plan = executor.migration_plan(targets)
    if not plan:
        return 0
    running: list[str] = []

    def progress(action: str, migration: Any = None, fake: bool = False) -> None:
        if action in ("apply_start", "unapply_start"):
            running[:] = [f"{migration.app_label}.{migration.name}"]

    alias = connection.alias
    pre_state = executor._create_project_state(with_applied_migrations=True)
    emit_pre_migrate_signal(0, False, alias, apps=pre_state.apps, plan=plan)
    # Foreign keys checked as each statement runs, as in migrate's own transactions:
    # PostgreSQL refuses to alter a table with deferred checks pending.
    with backend_for(connection).immediate_constraints():
        try:
            executor.progress_callback = progress
            post_state = executor.migrate(targets, plan=plan, state=pre_state.clone())
        except Exception as exc:
            name = running[0] if running else "?"
            raise StreamdumpError(
                f"{what}: migration {name} failed: {type(exc).__name__}: {exc}"
            ) from exc
    post_state.clear_delayed_apps_cache()
    emit_post_migrate_signal(0, False, alias, apps=post_state.apps, plan=plan)
    return len(plan)


def migrate_forward(connection: BaseDatabaseWrapper) -> int:
    """After the import at the dump's state: every migration of the code, then signals."""
    graph = MigrationExecutor(connection).loader.graph
    count = migrate_to(connection, graph.leaf_nodes(), "migrate forward")
    log.info("migrate forward: %d migrations", count)
    return count
