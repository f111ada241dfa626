"""Import: the plan of steps, and every transaction boundary.

Transactions are decided here and nowhere else: loaders (loaders.py), chores (chores.py) and the
journal (journal.py) run inside the transaction this module gives them, or outside any when it
says so, and never open, commit or roll back one. Steps, in order:

 1. journal check   refuse a database holding the journal of an unfinished import (journal.py)
 2. preflight       migrations, models and columns, before anything is written
 3. refusal         without --clear, a target holding rows in the way is refused (startup.py)
 4. migrate         make the target's schema current
 5. clear           with --clear, empty every table (else, where step 4 ran migrations, which
                    may write rows: check again that the target is empty)
 6. auth            content types and permissions by natural key, users, groups
 7. settings        rows the application wrote at start-up make way for the dump's
 8. plugin config   same rule
 9. reload          STREAMDUMP["PLUGIN_RELOAD"], then migrate again: activated plugins' tables
10. app check       every remaining section maps to an installed model with the same columns
11. remainder       dependency order, bounded batches
12. verify          foreign keys checked, rows per section equal the dump's, sequences reset
                    (the stream's media files, read with the remainder, are staged under
                    temporary names in the target's storage: media.py)
13. place media     after the last commit, the staged files are moved into place; any
                    failure before removes every staged file

Steps 1 to 3 prepare and only read: every refusal comes before the first write. The rest runs
in one of two shapes, by whether the target's DDL is transactional (features.can_rollback_ddl):

- one transaction (PostgreSQL, SQLite, and MariaDB when no migration is to run: the schema is
  current and no plugin is to be activated): steps 4 to 12 commit together, migrations and the
  plugins' migrations included; a kill at any moment leaves the target as it was (the database
  rolls back). On SQLite, foreign-key enforcement is switched off before the transaction opens
  (PRAGMA foreign_keys cannot change inside one, and the schema editor needs it off); verify
  runs PRAGMA foreign_key_check before the commit. On MariaDB, migrate (nothing to do) runs
  just before the transaction.
- journaled (MariaDB when migrations are to run: the target's pending ones, plugins' to
  activate, an upgrade's; each commits whatever ran before it): a journal of what the target
  was, schema and rows, is committed first (journal.py); then migrate; then steps 5 to 12
  commit together with the deletion of the journal, or, with plugins to activate, 5 to 8
  commit, 9 runs outside a transaction, 10 to 12 commit with the deletion of the journal.
  If anything fails in between, the journal puts the target back exactly (tables migrate
  created dropped, tables it changed made again, every row and the migration history); after
  a kill, the next run finds the journal, refuses and names `loadstream --recover`, which
  does the same. Plugin apps older in the dump than their code (decided after step 9, the plan
  being a generator): 10 to 12 commit, the plugins are migrated forward, then the journal is
  deleted.

Where the transaction rolls DDL back (features.can_rollback_ddl: PostgreSQL, whose imports
always run as one transaction), the first load of each stretch of loading that a verify ends
lets the backend set aside what it rebuilds faster after the rows (Backend.postpone_schema:
PostgreSQL drops foreign keys and indexes of the tables about to be filled) and verify restores
it, checking the rows, before anything else alters a table (the plugins' migrations) and before
the commit; a failure rolls the schema back with the rows. Elsewhere nothing is set aside.

A dump older than the target's code (upgrade.py): step 4 migrates the target to the dump's
state instead (forwards or backwards), sections are decoded with that state's historical
models, and after verify the target is migrated forward ("migrate forward"), in the same one
transaction; on MariaDB journaled, whatever the target's state (upgrade_journaled_plan).
Plugin apps activated by the import are decided after step 9 (their migrations are unknown
before): step 9 then migrates them to the dump's state, and the forward step moves them on.

Any failure raises ImportFailed, from the original error, with the target's real state.
Data flows stream -> reader -> phases (phase order) -> loaders (codecs, backends) -> target.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import BinaryIO

from django.apps import apps
from django.db import DatabaseError, connections, transaction
from django.db.backends.base.base import BaseDatabaseWrapper

from . import chores, journal
from .backends import Postponed, check_references
from .conf import Config, activate_plugins, get_config
from .cpuwatch import CpuWatch
from .errors import ImportFailed, MissingReferences, SchemaMismatch, StreamdumpError
from .events import Callback, Events
from .fixturereader import FixtureReader
from .fixturestream import FixtureTables, metadata_warnings
from .framing import Framed, Kind
from .loaders import LoadContext, loader_for
from .media import MediaImport
from .migrationstate import is_older_only, migration_problems
from .migrationstate import read_once as migrations_read_once
from .phases import PhasedSections
from .preflight import SectionMap, map_sections
from .progress import progress_bar
from .reader import StreamReader
from .selection import Selection, references_to
from .startup import refuse_non_empty
from .summary import ImportEvents, ImportSummary
from .tables import EARLY_PHASES, PHASES, Table
from .upgrade import Upgrade, migrate_forward, migrate_to, plan_after_reload, plan_upgrade

log = logging.getLogger("streamdump")


@dataclass
class Step:
    """One named step of a plan."""

    name: str
    run: Callable[[], None]


@dataclass
class Stage:
    """Steps that run together: in one transaction when `atomic`, else one by one."""

    atomic: bool
    steps: list[Step]


class Sequencer:
    """One import of one stream into one database: builds the plan and runs it."""

    def __init__(
        self,
        reader: StreamReader,
        using: str = "default",
        *,
        clear: bool = False,
        config: Config | None = None,
        progress: bool = False,
        migrate: bool = True,
        ignore_missing: bool = False,
        events: ImportEvents | None = None,
        selection: Selection | None = None,
        overwrite_media: bool = False,
        strict_migrations: bool = False,
    ) -> None:
        self.reader, self.using, self.clear = reader, using, clear
        # The stream's media files are staged as the reader meets them (after the sections).
        self.media = MediaImport(overwrite=overwrite_media)
        reader.on_media = self.media.stage
        self.config = config or get_config()
        self.progress = progress
        self.migrate = migrate
        self.ignore_missing = ignore_missing
        self.strict_migrations = strict_migrations
        self.upgrade: Upgrade | None = None  # a dump older than the code (upgrade.py)
        # Whether this import ran migrations before its first write (migrate, or the schema at
        # the dump's state): they may have written rows the refusal did not see.
        self.migrated = False
        self.installed: set[str] = set()  # the apps installed before the plugins' reload
        self.connection = connections[using]
        self.events = events or ImportEvents()
        self.selection = selection or Selection()
        self.unselected: set[str] = set()  # sections left out of a partial import
        self.context = LoadContext(
            self.connection,
            self.config.portable_inserts,
            self.config.mysql_load_data,
            decode_worker_min_rows=(
                self.config.decode_worker_min_rows if self.config.decode_worker else None
            ),
            cpu_watch=None if self.config.decode_worker == "always" else CpuWatch(),
        )
        self.map = SectionMap()
        self.sections = PhasedSections(reader, self.phase_of)
        self._loaded: list[Table] = []  # since the last verify: checked and reset there
        self._postponed: Postponed | None = None  # set aside until the next verify
        self._postpone_asked = False  # asked since the last verify
        self._set_aside: Postponed | None = None  # by clear: restored by the last verify
        self._emptied: list[str] = []  # by clear: numbered afresh after the last commit
        self.journaled = False  # a journal is committed: a failure must recover from it
        self.journal_made = False  # its tables were made: dropped after the import

    @property
    def may_upgrade(self) -> bool:
        """Whether a dump older than the code is upgraded (not a fixture, not strict)."""
        header = self.reader.header
        return not self.strict_migrations and self.migrate and "fixture" not in header

    @property
    def transactional_ddl(self) -> bool:
        """Whether migrations can run inside the import's transaction (and roll back)."""
        return bool(self.connection.features.can_rollback_ddl)

    # --- the plans -------------------------------------------------------------------------

    def preparation(self) -> Stage:
        """Before any plan, reading only: every check that can refuse the import."""
        steps = [
            Step("journal check", lambda: journal.refuse_if_pending(self.connection, "it")),
            Step("preflight", self.preflight),
        ]
        if not self.clear:
            steps.append(Step("refusal", lambda: refuse_non_empty(*self._refusal_args())))
        return Stage(atomic=False, steps=steps)

    def plan(self) -> Iterable[Stage]:
        """The stages for this target: one transaction, or journaled (see the module header)."""
        if self.transactional_ddl:
            return self.one_transaction_plan()
        if self.upgrade is not None:
            return self.upgrade_journaled_plan()
        if self.map.deferred or (self.migrate and chores.pending_migrations(self.connection)):
            return self.journaled_plan()
        return self.one_transaction_plan()

    def one_transaction_plan(self) -> list[Stage]:
        """Migrate (where DDL is transactional; elsewhere it has nothing to do, and runs just
        before), clear, every phase, plugins, verify: one transaction. A dump older than the
        code: the schema at the dump's state instead of migrate, and the migrations forward
        after verify, in the same transaction."""
        stages = []
        migrate = [Step("migrate", self.migrate_target)] if self.migrate else []
        forward = []
        if self.upgrade is not None:
            migrate = [Step("schema at the dump's state", self.schema_at_dump_state)]
        if self.upgrade is not None or (self.map.deferred and self.may_upgrade):
            forward = [Step("migrate forward", self.migrate_forward)]
        if not self.transactional_ddl:
            stages.append(Stage(atomic=False, steps=migrate))
            migrate = []
        steps = [*migrate, self._clear_or_refuse(), *self._early_phases()]
        if self.map.deferred:
            steps += [self._verify_first_stage(), *self._plugin_steps()]
        steps += [
            Step("app check", self.app_check),
            Step("remainder", self.load_remainder),
            Step("verify", self.verify),
            *forward,
        ]
        return [*stages, Stage(atomic=True, steps=steps)]

    def _journal_first(self) -> list[Stage]:
        """The journal's tables, then the journal, committed before anything else: every stage
        after it that fails is put back from it (schema, rows, migration history)."""
        return [
            Stage(atomic=False, steps=[Step("journal tables", self.journal_tables)]),
            Stage(atomic=True, steps=[Step("journal", self.write_journal)]),
        ]

    def _journal_done(self) -> Step:
        return Step("journal done", lambda: journal.forget(self.connection))

    def _remainder_steps(self) -> list[Step]:
        return [
            Step("app check", self.app_check),
            Step("remainder", self.load_remainder),
            Step("verify", self.verify),
        ]

    def journaled_plan(self) -> Iterator[Stage]:
        """DDL commits and migrations are to run (the target's pending ones, plugins'): the
        journal first, then migrate, then stages that commit one after the other; the last
        commits with the journal's deletion."""
        yield from self._journal_first()
        if self.migrate:
            yield Stage(atomic=False, steps=[Step("migrate", self.migrate_target)])
        first = [self._clear_or_refuse(), *self._early_phases()]
        if not self.map.deferred:
            yield Stage(
                atomic=True, steps=[*first, *self._remainder_steps(), self._journal_done()]
            )
            return
        yield Stage(atomic=True, steps=[*first, self._verify_first_stage()])
        yield Stage(atomic=False, steps=self._plugin_steps())
        # Decided once the plugins are migrated: plugin apps older in the dump than their code
        # are migrated forward after the import, and that DDL commits on its own.
        if self.upgrade is None:
            yield Stage(atomic=True, steps=[*self._remainder_steps(), self._journal_done()])
            return
        yield Stage(atomic=True, steps=self._remainder_steps())
        yield Stage(atomic=False, steps=[Step("migrate forward", self.migrate_forward)])
        yield Stage(atomic=True, steps=[self._journal_done()])

    def upgrade_journaled_plan(self) -> list[Stage]:
        """A dump older than the code where DDL commits (MariaDB): the journal first (the
        target's schema, rows and migration history, whether never migrated or migrated
        further), then the schema at the dump's state (forwards or backwards), the import
        (plugins activated and taken to the dump's state between its two stages), and the
        migrations forward commit one after the other; the last stage deletes the journal.
        A failure puts the target back from the journal."""
        early = [self._clear_or_refuse(), *self._early_phases()]
        if self.map.deferred:
            imports = [
                Stage(atomic=True, steps=[*early, self._verify_first_stage()]),
                Stage(atomic=False, steps=self._plugin_steps()),
                Stage(atomic=True, steps=self._remainder_steps()),
            ]
        else:
            imports = [Stage(atomic=True, steps=[*early, *self._remainder_steps()])]
        return [
            *self._journal_first(),
            Stage(
                atomic=False,
                steps=[Step("schema at the dump's state", self.schema_at_dump_state)],
            ),
            *imports,
            Stage(atomic=False, steps=[Step("migrate forward", self.migrate_forward)]),
            Stage(atomic=True, steps=[self._journal_done()]),
        ]

    def _verify_first_stage(self) -> Step:
        # Foreign keys of what is loaded so far, checked before the plugins' migrations alter
        # tables (PostgreSQL refuses to alter a table with pending trigger events), and before
        # the first stage commits where it commits on its own (journaled).
        return Step("verify first stage", self.verify_loaded)

    def _plugin_steps(self) -> list[Step]:
        """Reload the plugins the dump's configuration activates, then migrate them."""
        return [
            Step("reload plugins", lambda: activate_plugins(self.config, self.using)),
            Step("migrate plugins", self.migrate_plugins),
        ]

    def _clear_or_refuse(self) -> Step:
        if self.clear:
            return Step("clear", self.clear_target)
        return Step("check that the target is empty", self.refuse_rows_of_migrations)

    def refuse_rows_of_migrations(self) -> None:
        """The refusal once more, where migrations ran since it (a data migration, a
        post_migrate handler may write rows); else the preparation's refusal stands (the
        emptiness check reads every table: once per import is enough)."""
        if self.migrated:
            refuse_non_empty(*self._refusal_args())

    def clear_target(self) -> None:
        """Empty the target's tables (a partial import's only); what the backend set aside for
        it is restored by verify."""
        emptied = chores.empty(self.connection, self._kept_by_clear(), self._selected_tables())
        self._set_aside, self._emptied = emptied.set_aside, emptied.tables

    def _refusal_args(self) -> tuple[Config, str, set[str] | None]:
        """What refuse_non_empty checks: every table, or a partial import's (after preflight)."""
        only = set(self.map.tables) if self.selection.partial else None
        return self.config, self.using, only

    def _kept_by_clear(self) -> frozenset[str]:
        """Tables of regenerated models (content types, permissions) that the dump does not
        hold: the target's own rows stay, for the dump's natural keys to refer to."""
        dumped = {t["model"] for t in self.reader.header.get("tables") or []}
        kept = set()
        for label in self.config.natural_key_models:
            if label not in dumped:
                with contextlib.suppress(LookupError):
                    kept.add(apps.get_model(label)._meta.db_table)
        return frozenset(kept)

    def _selected_tables(self) -> list[str] | None:
        """The tables a partial import empties with clear (None: every table)."""
        if not self.selection.partial:
            return None
        return [table.db_table for table in self.map.tables.values()]

    def _early_phases(self) -> list[Step]:
        return [Step(phase, self._phase_loader(phase)) for phase in EARLY_PHASES]

    def _phase_loader(self, phase: str) -> Callable[[], None]:
        return lambda: self.load_phase(phase)

    # --- running them ----------------------------------------------------------------------

    def run(self) -> ImportSummary:
        """Run the preparation, then the plan it calls for; any failure raises ImportFailed,
        whose target_state says what the target holds."""
        started = time.monotonic()
        tables = self.reader.header.get("tables") or []
        total = sum(t.get("rows") or 0 for t in tables)
        self.events.started(total, len(tables))
        committed = placing = False
        try:
            with (
                progress_bar(total, "import", self.progress) as self.events.bar,
                migrations_read_once(),
            ):
                self.run_stage(self.preparation())
                for stage in self.plan():
                    self.run_stage(stage)
            self.journaled = False
            committed = True
            if self._emptied:  # DDL on MariaDB: only once the import is in
                self.run_stage(Stage(atomic=False, steps=[Step("restart numbering",
                    self.restart_numbering)]))  # fmt: skip
            if "media" in self.reader.header:  # a stream with files: placed after the commit
                placing = True
                self.run_stage(Stage(atomic=False, steps=[Step("place media", self.media.place)]))
        except Exception as exc:
            if committed:
                raise ImportFailed(exc, ImportFailed.MEDIA_INCOMPLETE) from exc
            state = self._recover() if self.journaled else self._unchanged()
            raise ImportFailed(exc, state) from exc
        except BaseException as exc:  # interrupted: put back what was committed, then stop
            if committed:
                state = ImportFailed.MEDIA_INCOMPLETE if placing else ImportFailed.COMMITTED
            else:
                state = self._recover() if self.journaled else self._unchanged()
            exc.target_state = state  # type: ignore[attr-defined]  # for the command's message
            raise
        finally:
            self.media.discard()  # what was not placed: nothing is left under a temporary name
            self.sections.close()
            chores.forget_cached_rows()
        if self.journal_made:
            drop_journal_tables(self.connection)
        summary = self.events.summary
        summary.seconds = time.monotonic() - started
        summary.media_files, summary.media_bytes = len(self.media.placed), self.media.bytes
        summary.media_unchanged = self.media.unchanged
        log.info(
            "imported %d rows into %d tables in %.2fs",
            summary.total_rows,
            len(summary.rows),
            summary.seconds,
        )
        self.events.finished()
        return summary

    def run_stage(self, stage: Stage) -> None:
        """Run a stage's steps in order, in one transaction when it is atomic."""
        with in_transaction(self.connection) if stage.atomic else contextlib.nullcontext():
            for step in stage.steps:
                with self.step(step.name):
                    step.run()

    @contextlib.contextmanager
    def step(self, name: str) -> Iterator[None]:
        """Run one step, reporting its start and end: every step goes through here."""
        self.events.step_started(name)
        started = time.monotonic()
        yield
        self.events.step_finished(name, time.monotonic() - started)

    def _unchanged(self) -> str:
        """Nothing was committed: only the journal's tables may have been made (empty), and
        they go, so that the schema too is as it was."""
        if self.journal_made:
            drop_journal_tables(self.connection)
        return ImportFailed.UNCHANGED

    def _recover(self) -> str:
        """Put the target back from the journal; return its state.

        A failure of the recovery itself is logged and swallowed: the caller raises the error
        that made the import fail, which is the one the user must see; the journal stays, and
        `loadstream --recover` can try again.
        """
        log.warning("the import failed after its first commit: putting the target back")
        try:
            recover(self.using, self.config)
        except Exception:
            log.exception("putting the target back failed; its journal stays")
            return ImportFailed.RECOVERY_NEEDED
        return ImportFailed.RESTORED

    # --- the steps -------------------------------------------------------------------------

    def migrate_target(self) -> None:
        """Migrate the target (its own pending migrations, or the plugins' just activated)."""
        if chores.migrate(self.connection):
            self.migrated = True

    def restart_numbering(self) -> None:
        """After the last commit: the tables clear emptied number their next rows after their
        highest id (MariaDB's AUTO_INCREMENT; elsewhere clear did it in the transaction)."""
        chores.restart_numbering(self.connection, self._emptied)

    def journal_tables(self) -> None:
        """Create the journal's tables (DDL, which commits on the backends that journal)."""
        journal.create_tables(self.connection)
        self.journal_made = True

    def write_journal(self) -> None:
        """Record what the target is; from its commit on, a failure recovers from it."""
        journal.write(self.connection, self.config, clear=self.clear)
        transaction.on_commit(lambda: setattr(self, "journaled", True), using=self.using)

    def preflight(self) -> None:
        """Refuse, before anything is written, a stream that does not fit the target."""
        self.upgrade = self.plan_upgrade()
        self.installed = {app_config.label for app_config in apps.get_app_configs()}
        only = self._select() if self.selection.partial else None
        self.map = map_sections(
            self.reader.header,
            self.config,
            allow_deferred=bool(self.config.plugin_reload),
            ignore_missing=self.ignore_missing,
            only=only,
            check_migrations=self.upgrade is None,
            get_model=self.upgrade.get_model if self.upgrade else apps.get_model,
        )
        if self.map.problems:
            raise SchemaMismatch(self.map.problems)
        if self.map.skipped:
            log.warning(
                "skipping sections of models not installed: %s", ", ".join(self.map.skipped)
            )
        if self.map.deferred:
            log.info("waiting for plugins to provide: %s", ", ".join(self.map.deferred))
        self.events.skipped(self.map.skipped)
        version = self.config.app_version
        for warning in metadata_warnings(
            self.reader.header, version() if callable(version) else version
        ):
            self.events.warning(warning)

    def _select(self) -> set[str]:
        """The sections a partial import takes (the others are read past)."""
        chosen, self.unselected = self.selection.split_sections(self.reader.header, self.config)
        log.info(
            "importing %d of the dump's sections, leaving %d", len(chosen), len(self.unselected)
        )
        return chosen

    def plan_upgrade(self) -> Upgrade | None:
        """The upgrade for a dump older than the target's code, or None: a dump at the code's
        state, a fixture, --strict-migrations, no migrate, or other differences (refused by
        map_sections as before)."""
        header = self.reader.header
        if not self.may_upgrade:
            return None
        installed = {app_config.label for app_config in apps.get_app_configs()}
        problems = migration_problems(header, installed)
        if not is_older_only(problems):
            return None
        upgrade = plan_upgrade(self.connection, header, installed)
        log.info(
            "the dump is older than the target's code: importing at its state (%s), then "
            "migrating forward",
            ", ".join(f"{a}.{n or 'zero'}" for a, n in upgrade.nodes if a in upgrade.changing),
        )
        return upgrade

    def schema_at_dump_state(self) -> None:
        """Migrate the target, forwards or backwards, to the dump's migration state."""
        assert self.upgrade is not None
        count = migrate_to(self.connection, self.upgrade.nodes, "schema at the dump's state")
        self.migrated = self.migrated or count > 0
        log.info("schema at the dump's state: %d migrations", count)
        log.info("import")

    def migrate_plugins(self) -> None:
        """Migrate the plugin apps just activated: to the dump's state when the dump is older
        than the code (theirs or the others'), else up to date."""
        if self.may_upgrade:
            activated = {c.label for c in apps.get_app_configs()} - self.installed
            self.upgrade = plan_after_reload(self.connection, self.reader.header, activated)
        if self.upgrade is None:
            self.migrate_target()
            return
        count = migrate_to(self.connection, self.upgrade.nodes, "plugins at the dump's state")
        log.info("plugins at the dump's state: %d migrations", count)

    def migrate_forward(self) -> None:
        """After the import at the dump's state, the code's migrations on the imported rows."""
        if self.upgrade is not None:  # else the plugins' dump was at their code's state
            migrate_forward(self.connection)

    def phase_of(self, label: str) -> str:
        """The phase a section is imported in: the target's, for models it has (the dump's,
        for sections a partial import leaves out)."""
        table = self.map.tables.get(label)
        if table is not None:
            return table.phase
        if label in self.unselected:
            described = next(t for t in self.reader.header["tables"] if t["model"] == label)
            return str(described.get("phase") or "remainder")
        return "remainder"

    def app_check(self) -> None:
        """Every section still waiting must now map to an installed model with its columns."""
        if not self.map.deferred:
            return
        found = map_sections(
            self.reader.header,
            self.config,
            allow_deferred=False,
            ignore_missing=self.ignore_missing,
            only=set(self.map.deferred),
            check_migrations=self.upgrade is None,  # else checked by plan_after_reload
            get_model=self.upgrade.get_model if self.upgrade else apps.get_model,
        )
        if found.problems:
            raise SchemaMismatch(
                [*found.problems, "(the dump's plugin configuration did not provide them)"]
            )
        self.map.tables.update(found.tables)
        self.map.skipped += found.skipped
        self.events.skipped(self.map.skipped)

    def load_phase(self, phase: str) -> None:
        """Load every section of one phase (skipped sections are read past)."""
        if not self._postpone_asked:
            self._postpone_schema(phase)
        for section in self.sections.of_phase(phase):
            if section.model in self.map.skipped or section.model in self.unselected:
                for _, rows in section.batches():
                    self.events.rows_loaded(len(rows))
                continue
            table = self.map.tables[section.model]
            started = time.monotonic()
            loaded = loader_for(table, section, self.context, self.config).load(
                self.events.rows_loaded
            )
            self._loaded.append(table)
            self.events.section_done(
                section.model, loaded, time.monotonic() - started, section.data_bytes
            )

    def load_remainder(self) -> None:
        """The remaining sections, then the end of the stream and its trailer."""
        self.load_phase("remainder")
        self.sections.read_to_end()
        settled = self.context.settle_deferred()
        if settled:
            log.info("%d natural keys to rows loaded after theirs set", settled)

    def _postpone_schema(self, phase: str) -> None:
        """At the first load since the last verify: let the backend set aside, until the next
        verify, what it rebuilds faster after the rows, for the tables this stretch fills (the
        first stage's phases where plugins are activated in between, else every phase left).
        Only where the transaction rolls DDL back: a failure restores the schema with the rows."""
        self._postpone_asked = True
        least = self.config.rebuild_min_rows
        if least is None or not self.transactional_ddl or not self.connection.in_atomic_block:
            return
        phases = PHASES[PHASES.index(phase) :]
        if self.map.deferred and phase in EARLY_PHASES:
            phases = tuple(p for p in phases if p in EARLY_PHASES)
        counts = {t["model"]: t.get("rows") or 0 for t in self.reader.header.get("tables") or []}
        filled = [
            table.db_table
            for label, table in self.map.tables.items()
            if table.phase in phases and counts.get(label, 0) >= max(least, 1)
        ]
        written = [table.db_table for table in self.map.tables.values()]
        self._postponed = self.context.backend.postpone_schema(filled, written)

    def verify_loaded(self) -> None:
        """Check the foreign keys of the tables loaded since the last check (re-creating what
        was set aside for the load); reset sequences."""
        tables, self._loaded = self._loaded, []
        postponed, self._postponed, self._postpone_asked = self._postponed, None, False
        try:
            chores.check_and_reset(self.connection, tables, postponed)
        except StreamdumpError as exc:
            if not self.unselected:
                raise
            references = references_to(tables, self.unselected)
            raise MissingReferences(
                f"{exc}\nThe rows referred to are neither in the part imported nor already in "
                f"the target. Foreign keys to models left out: {references}"
                "; import those models too (or import into a target that holds their rows)."
            ) from exc

    def verify(self) -> None:
        """Every table of the header was imported (or skipped) with the dump's row count; then
        the foreign keys and sequences of what was loaded."""
        rows = self.events.summary.rows
        for described in self.reader.header.get("tables") or []:
            label = described["model"]
            if label in self.map.skipped or label in self.unselected:
                continue
            if rows.get(label) != described.get("rows"):
                raise StreamdumpError(
                    f"section {label}: {rows.get(label)} rows imported, "
                    f"the dump holds {described.get('rows')}"
                )
        if self._set_aside is not None or (self.clear and self.selection.partial):
            # First: the backends' own checks of the imported tables would blame the part.
            self.verify_rows_left_in_place()
        self.verify_loaded()

    def verify_rows_left_in_place(self) -> None:
        """A part imported with clear emptied its tables: the target's rows outside the part
        that refer to them must find the rows they refer to among those imported (SQLite's
        check covers the whole database; on MariaDB the imported tables' check does not; on
        PostgreSQL the keys that clear set aside are re-created, validated, after this)."""
        emptied = set(self._selected_tables() or ())
        fields = chores.references_into(self.connection, emptied)
        set_aside, self._set_aside = self._set_aside, None
        try:
            check_references(self.connection, fields)
            if set_aside is not None:
                set_aside.restore()
        except StreamdumpError as exc:
            raise MissingReferences(
                f"{exc}: a row the import leaves in place (outside the part imported) refers "
                "to a row that -c emptied and the part does not hold. Import the models that "
                "refer to it too, or import the part without -c."
            ) from exc


@contextlib.contextmanager
def in_transaction(connection: BaseDatabaseWrapper) -> Iterator[None]:
    """One transaction with foreign-key checks deferred or disabled until verify.

    Disabled before the transaction opens: SQLite ignores PRAGMA foreign_keys inside one, and
    its schema editor (migrate) refuses to run with enforcement on.
    """
    with connection.constraint_checks_disabled(), transaction.atomic(using=connection.alias):
        yield


def drop_journal_tables(connection: BaseDatabaseWrapper) -> None:
    """Drop the emptied journal tables after an import; a failure only leaves them (empty)."""
    try:
        journal.drop_tables(connection)
    except DatabaseError as exc:
        log.warning("could not drop the empty journal tables: %s", exc)


def recover(using: str = "default", config: Config | None = None) -> bool:
    """Put database `using` back exactly as it was before an interrupted import, from that
    import's journal (journal.py); return False when there was nothing to recover.

    With foreign-key checks off: tables and views the import created are dropped, tables whose
    definition it changed (or that it dropped) are made again from their recorded definition
    (DDL, outside a transaction), then one transaction empties every table the database had,
    loads the journal's copy back (migration history included) and deletes the journal.
    Interrupted, it can be run again.
    """
    config = config or get_config()
    connection = connections[using]
    entry = journal.pending(connection)
    if entry is not None:
        journal.check_version(entry)
        journal.restore_schema(connection, entry)
        with in_transaction(connection):
            journal.restore_rows(connection, entry, config)
            journal.forget(connection)
        log.warning("database %r is back as it was before the import of %s", using, entry.started)
    if journal.JOURNAL in connection.introspection.table_names():
        drop_journal_tables(connection)
    chores.forget_cached_rows()
    return entry is not None


def load(
    stream: BinaryIO,
    using: str = "default",
    *,
    clear: bool = False,
    batch_size: int | None = None,
    progress: bool = False,
    migrate: bool = True,
    ignore_missing: bool = False,
    config: Config | None = None,
    include: tuple[str, ...] = (),
    exclude: tuple[str, ...] = (),
    events: Callback | None = None,
    overwrite_media: bool = False,
    strict_migrations: bool = False,
) -> ImportSummary:
    """Import a format v1 stream, or a Django fixture, into database `using`, step by step;
    all or nothing.

    `stream` is a binary file object (opened "rb", or sys.stdin.buffer), zstd-compressed or
    plain NDJSON, read once from its current position. A Django fixture (a dumpdata JSON array
    or JSON lines, plain or compressed with gzip, bz2, xz, zip or zstd) is read first into a
    spool of rows per table, then imported the same way (fixturestream.py). The target is
    migrated first (`migrate` runs Django's migrate unless False), then must hold no rows but
    those it makes itself, unless `clear` empties every table first. `ignore_missing` skips
    sections of models that are not installed instead of refusing the dump. A dump older
    than the target's code is imported at its migration state, then migrated forward
    (upgrade.py; docs/UPGRADES.md); `strict_migrations` refuses it instead. `batch_size` (rows
    per insert) defaults to STREAMDUMP["BATCH_SIZE"]; `progress` shows a bar on stderr; `config`
    replaces the STREAMDUMP settings. Model signals are not sent. The stream's media files are
    written through the default storage under temporary names and moved into place after the
    database committed; an existing different file is refused unless `overwrite_media`.

    `include` and `exclude` (`app_label[.ModelName]` labels, validated as dumpdata does) import
    part of the dump: with `clear`, only the tables of that part are emptied; rows of it that
    refer to rows neither imported nor already in the target refuse the import
    (MissingReferences). `events` is a callback receiving each event (events.py) as a dict.

    Raises ImportFailed from the original error (FormatError, SchemaMismatch, TargetNotEmpty,
    a database error...) with `target_state`: what the failure left in the target.
    """
    config = config or get_config()
    emitter = Events(events, command="import")
    try:
        with emitter.warnings():
            try:
                selection = Selection.checked(include, exclude)
                framed = Framed(stream, config.max_line_bytes)
                reader: StreamReader
                if framed.kind in (Kind.FIXTURE_JSON, Kind.FIXTURE_JSONL):
                    # A Django fixture: read whole into a spool first, whose sections the
                    # sequencer then reads as a stream's.
                    tables = FixtureTables(framed, config, ignore_missing=ignore_missing)
                    reader = FixtureReader(
                        tables, batch_size or config.batch_size, config.batch_bytes, using
                    )
                else:
                    reader = StreamReader(
                        framed, batch_size or config.batch_size, config.batch_bytes,
                        config.max_line_bytes,
                    )  # fmt: skip
            except Exception as exc:  # a bad label, not a stream, a damaged header: nothing done
                raise ImportFailed(exc, ImportFailed.UNCHANGED) from exc
            sequencer = Sequencer(
                reader,
                using,
                clear=clear,
                config=config,
                progress=progress,
                migrate=migrate,
                ignore_missing=ignore_missing,
                events=ImportEvents(emitter),
                selection=selection,
                overwrite_media=overwrite_media,
                strict_migrations=strict_migrations,
            )
            return sequencer.run()
    except BaseException as exc:
        emitter.error(exc)
        raise


__all__ = ["PHASES", "ImportSummary", "Sequencer", "load", "recover"]
