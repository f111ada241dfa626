"""Chores on the target database, each a plain function run inside the sequencer's transaction
(or outside any, where the sequencer says so: migrate on a backend whose DDL commits)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from django.apps import apps
from django.core.management import call_command
from django.core.management.color import no_style
from django.db import DatabaseError, router
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.migrations.executor import MigrationExecutor

from .backends import Postponed, backend_for
from .backends.base import constrained_keys
from .tables import Table

log = logging.getLogger("streamdump")


def pending_migrations(connection: BaseDatabaseWrapper) -> bool:
    """Whether migrate has anything to do on the target (reads only)."""
    executor = MigrationExecutor(connection)
    return bool(executor.migration_plan(executor.loader.graph.leaf_nodes()))


def migrate(connection: BaseDatabaseWrapper) -> bool:
    """Bring the target's schema up to date with its code (and activated plugins); return
    whether any migration ran."""
    if not pending_migrations(connection):
        # Current already: its post_migrate rows were written when it was migrated.
        log.info("the schema of database %r is current", connection.alias)
        return False
    # Inside the import's transaction (where DDL is transactional), foreign keys are checked
    # as each statement runs, as in migrate's own transactions: PostgreSQL refuses to alter a
    # table with deferred checks pending.
    with backend_for(connection).immediate_constraints():
        call_command(
            "migrate", database=connection.alias, interactive=False, verbosity=0, skip_checks=True
        )
    return True


@dataclass
class Emptied:
    """What empty() did: the tables it emptied, and what the backend set aside for it."""

    tables: list[str]
    set_aside: Postponed | None


def empty(
    connection: BaseDatabaseWrapper,
    keep: frozenset[str] = frozenset(),
    only: list[str] | None = None,
) -> Emptied:
    """Delete every row of every table but those named in `keep` (migration history is not a
    model), or only of the tables `only` names (a partial import); no other table is emptied.
    Returns the tables emptied and what the backend set aside for it (other tables' foreign
    keys into these), to restore once the rows are in.

    Where the backend can do it inside the transaction, the emptied tables' sequences start
    again at 1, as after `manage.py flush`: rows the application writes later (at its next
    start) get the ids they get after the application's own restore, not ids past the rows
    that were deleted here. Elsewhere (MariaDB) restart_numbering does it after the commit."""
    tables = connection.introspection.django_table_names(only_existing=True, include_views=False)
    tables = [t for t in tables if t not in keep]
    if only is not None:
        tables = [table for table in tables if table in only]
    set_aside = backend_for(connection).flush(tables)
    log.info("emptied %d tables of database %r", len(tables), connection.alias)
    return Emptied(tables, set_aside)


def restart_numbering(connection: BaseDatabaseWrapper, tables: list[str]) -> None:
    """After the import's last commit (MariaDB: DDL, which commits): the emptied tables number
    their next rows after the highest id they hold, as the other backends' flush does. A
    failure is only a warning: the import is in, new rows just get higher ids."""
    try:
        backend_for(connection).restart_numbering(tables)
    except DatabaseError as exc:
        log.warning("could not restart the numbering of the emptied tables: %s", exc)


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


def references_into(connection: BaseDatabaseWrapper, tables: set[str]) -> list[Any]:
    """The foreign keys (with a database constraint) of installed models outside `tables` that
    point into them: rows that an import which empties `tables` leaves in place."""
    found = []
    for model in apps.get_models(include_auto_created=True):
        opts = model._meta
        if opts.proxy or not opts.managed or opts.db_table in tables:
            continue
        if not router.allow_migrate_model(connection.alias, model):
            continue
        found += [
            f for f in constrained_keys(model) if f.target_field.model._meta.db_table in tables
        ]
    return found


def forget_cached_rows() -> None:
    """Drop the per-process cache of content types: the import may have changed their ids."""
    from django.contrib.contenttypes.models import ContentType

    ContentType.objects.clear_cache()


def _execute(connection: BaseDatabaseWrapper, statements: list[str]) -> None:
    with connection.cursor() as cursor:
        for sql in statements:
            cursor.execute(sql)
