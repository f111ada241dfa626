"""Chores on the target database, each a plain function run inside the sequencer's transaction
(or outside any, where the sequencer says so: migrate on a backend whose DDL commits)."""

from __future__ import annotations

import logging

from django.core.management import call_command
from django.core.management.color import no_style
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.migrations.executor import MigrationExecutor

from .backends import Postponed, backend_for
from .tables import Table

log = logging.getLogger("streamdump")


def migrate(connection: BaseDatabaseWrapper) -> None:
    """Bring the target's schema up to date with its code (and activated plugins)."""
    executor = MigrationExecutor(connection)
    if not executor.migration_plan(executor.loader.graph.leaf_nodes()):
        # Current already: its post_migrate rows were written when it was migrated.
        log.info("the schema of database %r is current", connection.alias)
        return
    # Inside the import's transaction (where DDL is transactional), foreign keys are checked
    # as each statement runs, as in migrate's own transactions: PostgreSQL refuses to alter a
    # table with deferred checks pending.
    with backend_for(connection).immediate_constraints():
        call_command(
            "migrate", database=connection.alias, interactive=False, verbosity=0, skip_checks=True
        )


def empty(
    connection: BaseDatabaseWrapper,
    keep: frozenset[str] = frozenset(),
    only: list[str] | None = None,
) -> None:
    """Delete every row of every table but those named in `keep` (migration history is not a
    model), or only of the tables `only` names (a partial import)."""
    tables = connection.introspection.django_table_names(only_existing=True, include_views=False)
    tables = [t for t in tables if t not in keep]
    if only is not None:
        tables = [table for table in tables if table in only]
    statements = connection.ops.sql_flush(
        no_style(), tables, reset_sequences=False, allow_cascade=False
    )
    _execute(connection, statements)
    backend_for(connection).after_flush()
    log.info("emptied %d tables of database %r", len(tables), connection.alias)


def check_and_reset(
    connection: BaseDatabaseWrapper, tables: list[Table], postponed: Postponed | None = None
) -> None:
    """Check the foreign keys of the tables loaded, re-create what was set aside for their load
    (foreign keys validated then), then reset their sequences past their ids."""
    models = [t.model for t in tables]
    if models:
        # First: the checks still queued fire now (an ALTER TABLE refuses to run before them).
        backend_for(connection).check_foreign_keys(models)
    if postponed is not None:
        postponed.restore()
    if models:
        _execute(connection, connection.ops.sequence_reset_sql(no_style(), models))


def forget_cached_rows() -> None:
    """Drop the per-process cache of content types: the import may have changed their ids."""
    from django.contrib.contenttypes.models import ContentType

    ContentType.objects.clear_cache()


def _execute(connection: BaseDatabaseWrapper, statements: list[str]) -> None:
    with connection.cursor() as cursor:
        for sql in statements:
            cursor.execute(sql)
