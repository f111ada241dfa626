"""MariaDB/MySQL: a consistent-snapshot transaction, LOAD DATA LOCAL INFILE or multi-row INSERT
under max_allowed_packet, and the foreign-key check as one anti-join per foreign key.

A section goes in with one LOAD DATA LOCAL INFILE (mysql_infile.py) where the server
(``local_infile``) and the client (mysqlclient's ``local_infile`` option, on by default with
MariaDB's client library) allow it and STREAMDUMP["MYSQL_LOAD_DATA"] is not "off"; otherwise,
and for sections whose loader needs the connection between batches, with multi-row INSERTs.

Each row of a multi-row INSERT is escaped by the driver's own ``literal`` (the escaping
mysqlclient's executemany uses), so both insert paths store the same values; the difference is
that statements are filled up to the server's ``max_allowed_packet`` instead of the driver's
64 KiB, which saves round trips. Statements go to the raw driver cursor: Django's debug cursor
would keep every statement's text.
"""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING, Any

from django.db import models

from ..errors import StreamdumpError
from .base import _CANONICAL_UUID, Fn, Inserter, check_references, constrained_keys
from .mysql_infile import PATH as INFILE_PATH
from .mysql_infile import InfileInserter
from .naive import NaiveBackend

if TYPE_CHECKING:
    from django.db import models
    from django.db.backends.base.base import BaseDatabaseWrapper

# Room for the packet header and what the server adds; a statement stays this far below the limit.
_MARGIN = 1024
# Larger statements do not get faster, and a batch is already in memory once.
_MAX_STATEMENT = 16 * 1024 * 1024
# MariaDB versions whose InnoDB bulk load (an empty table, unique_checks and foreign_key_checks
# off) works with LOAD DATA: MDEV-34703 was fixed in 10.11.11, 11.4.5 and 11.7.2. The same
# versions on which mariadb-import itself turns unique_checks off.
_BULK_LOAD_FIXED = ((10, 11, 11), (11, 4, 5), (11, 7, 2))
MODES = ("auto", "on", "off")

log = logging.getLogger("streamdump")


class MultiRowInserter:
    """INSERT ... VALUES with as many rows per statement as max_allowed_packet allows."""

    path = "multi-row INSERT"

    def __init__(
        self, connection: BaseDatabaseWrapper, table: str, columns: list[str], limit: int
    ) -> None:
        qn = connection.ops.quote_name
        self.connection = connection
        self.table = table
        self.limit = limit
        self.prefix = "INSERT INTO {} ({}) VALUES ".format(
            qn(table), ", ".join(qn(c) for c in columns)
        ).encode("utf-8")

    def insert(self, rows: list[list[Any]]) -> int:
        """Send the rows in as few statements as fit under max_allowed_packet."""
        if not rows:
            return 0
        connection, limit = self.connection, self.limit
        with connection.wrap_database_errors:
            raw = connection.connection
            literal = raw.literal
            cursor = raw.cursor()
            try:
                statement = bytearray(self.prefix)
                empty = len(statement)
                for row in rows:
                    values = literal(row)  # b"(v1,v2,...)"
                    if len(statement) + len(values) + 1 > limit and len(statement) > empty:
                        cursor.execute(bytes(statement))
                        del statement[empty:]
                    if len(statement) > empty:
                        statement += b","
                    statement += values
                    if len(statement) > limit:
                        raise StreamdumpError(
                            f"a row of table {self.table} takes {len(values)} bytes as SQL, more "
                            f"than max_allowed_packet allows ({limit + _MARGIN}); raise "
                            "max_allowed_packet on the server"
                        )
                cursor.execute(bytes(statement))
            finally:
                cursor.close()
        return len(rows)


def load_data_mode(mode: str | bool) -> str:
    """The LOAD DATA mode: STREAMDUMP_MYSQL_LOAD_DATA if set, else the setting's."""
    chosen: str | bool = os.environ.get("STREAMDUMP_MYSQL_LOAD_DATA", "") or mode
    if chosen is True or chosen in ("1", "true", "True"):
        return "on"
    if chosen is False or chosen in ("0", "false", "False"):
        return "off"
    if chosen not in MODES:
        raise StreamdumpError(
            f'STREAMDUMP["MYSQL_LOAD_DATA"] (or STREAMDUMP_MYSQL_LOAD_DATA) is {chosen!r}: '
            'use "auto", "on" or "off"'
        )
    return str(chosen)


class MySQLBackend(NaiveBackend):
    """MariaDB or MySQL through mysqlclient (or another driver, on the portable insert path)."""

    vendor = "mysql"
    # Django resets AUTO_INCREMENT with TRUNCATE, which commits: the import's flush DELETEs,
    # and restart_numbering resets the counters after the last commit.
    flush_resets_sequences = False

    def __init__(self, connection: BaseDatabaseWrapper) -> None:
        super().__init__(connection)
        self._statement_limit: int | None = None  # asked once per connection
        # Whether LOAD DATA LOCAL INFILE can run ("" if so, else why not), per mode, and
        # whether InnoDB's bulk load may check uniqueness itself: asked once per connection.
        self._infile: dict[str, str] = {}
        self._relax_unique: bool | None = None

    def prep_shortcut(self, name: str, field: models.Field, parse: Fn) -> Fn | None:
        """The base class's shortcuts, and UUIDs as their text for MariaDB's uuid type."""
        if (
            name == "uuid"
            and type(field) is models.UUIDField
            and self.connection.features.has_native_uuid_field
        ):
            # MariaDB's uuid type (10.7+): the driver sends a UUID as str(UUID), the canonical
            # text, which is what the stream holds: kept as it is, parsed only if not canonical.
            def dec_uuid_text(v: Any) -> Any:
                if v.__class__ is str and _CANONICAL_UUID(v):
                    return v
                return str(parse(v))

            return dec_uuid_text
        return super().prep_shortcut(name, field, parse)

    def begin_snapshot(self, cursor: Any) -> None:
        # InnoDB takes the read view at START TRANSACTION WITH CONSISTENT SNAPSHOT. Django's
        # default is READ COMMITTED; the snapshot needs REPEATABLE READ, set for the next
        # transaction, which START TRANSACTION begins (ending the implicit one, empty).
        cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        cursor.execute("START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY")

    def inserter(self, table: str, columns: list[str]) -> Inserter:
        # Needs mysqlclient (MySQLdb), whose connection can escape literals.
        if self.connection.Database.__name__ != "MySQLdb":
            return super().inserter(table, columns)
        return MultiRowInserter(self.connection, table, columns, self.statement_limit())

    def section_inserter(self, table: str, columns: list[str], mode: str) -> Inserter | None:
        """One LOAD DATA LOCAL INFILE for the section where it can run, else multi-row INSERT
        (its path saying why not). STREAMDUMP_MYSQL_LOAD_DATA overrides `mode`."""
        mode = load_data_mode(mode)
        refusal = self.infile_refusal(mode)
        if refusal and mode == "on":
            raise StreamdumpError(
                f'STREAMDUMP["MYSQL_LOAD_DATA"] is "on", but LOAD DATA LOCAL INFILE cannot run '
                f"on database {self.connection.alias!r}: {refusal}"
            )
        fallback = self.inserter(table, columns)
        if refusal:
            if isinstance(fallback, MultiRowInserter):
                fallback.path = f"{fallback.path} ({INFILE_PATH} not used: {refusal})"
            return fallback
        return InfileInserter(
            self.connection,
            table,
            columns,
            relax_unique=self.relax_unique(),
            fallback=lambda: self.inserter(table, columns),
        )

    def infile_refusal(self, mode: str) -> str:
        """Why LOAD DATA LOCAL INFILE cannot run here ("" when it can), asked once."""
        if mode not in self._infile:
            self._infile[mode] = self._ask_infile(mode)
            if self._infile[mode]:
                log.info("%s not used: %s", INFILE_PATH, self._infile[mode])
        return self._infile[mode]

    def _ask_infile(self, mode: str) -> str:
        connection = self.connection
        if mode == "off":
            return 'STREAMDUMP["MYSQL_LOAD_DATA"] is "off"'
        if connection.Database.__name__ != "MySQLdb":
            return f"the driver is {connection.Database.__name__}, not mysqlclient"
        if not hasattr(os, "mkfifo"):
            return "this system has no named pipes"
        local_files = connection.Database.constants.CLIENT.LOCAL_FILES
        connection.ensure_connection()
        if not connection.connection.client_flag & local_files:
            return "the client does not allow it (OPTIONS local_infile is off)"
        with connection.cursor() as cursor:
            cursor.execute("SELECT @@GLOBAL.local_infile")
            (allowed,) = cursor.fetchone()
        if not int(allowed):
            return "the server does not allow it (local_infile is OFF)"
        return ""

    def relax_unique(self) -> bool:
        """Whether unique_checks may be off during a LOAD DATA: only where InnoDB's bulk load
        of an empty table works with LOAD DATA and checks every index itself, and where no
        change buffer may defer a secondary unique index's check (unique_checks = 0 lets
        InnoDB buffer such inserts unchecked)."""
        if self._relax_unique is None:
            connection = self.connection
            version = tuple(connection.mysql_version)
            fixed = connection.mysql_is_mariadb and any(
                version >= fix and (version[:2] == fix[:2] or fix == _BULK_LOAD_FIXED[-1])
                for fix in _BULK_LOAD_FIXED
            )
            buffering = "none"
            if fixed:
                with connection.cursor() as cursor:
                    cursor.execute("SHOW GLOBAL VARIABLES LIKE 'innodb_change_buffering'")
                    row = cursor.fetchone()
                buffering = str(row[1]).lower() if row else "none"
            self._relax_unique = fixed and buffering == "none"
        return self._relax_unique

    def statement_limit(self) -> int:
        """The largest statement the server accepts, less a margin (max_allowed_packet)."""
        if self._statement_limit is None:
            with self.connection.cursor() as cursor:
                cursor.execute("SELECT @@max_allowed_packet")
                (packet,) = cursor.fetchone()
            self._statement_limit = min(int(packet) - _MARGIN, _MAX_STATEMENT)
        return self._statement_limit

    def restart_numbering(self, tables: list[str]) -> None:
        """ALTER TABLE ... AUTO_INCREMENT = 1 for each of `tables` with an AUTO_INCREMENT column:
        InnoDB sets the counter to the highest id plus one (1 for an empty table), as in a
        fresh table; the DELETEs of flush left it past the deleted rows. DDL, which commits:
        run by the sequencer after the import's last commit, where a kill between two tables
        leaves only higher ids than necessary."""
        if not tables:
            return
        with self.connection.cursor() as cursor:
            cursor.execute(
                "SELECT TABLE_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = "
                "DATABASE() AND EXTRA LIKE '%%auto_increment%%' AND TABLE_NAME IN ({})".format(
                    ", ".join(["%s"] * len(tables))
                ),
                tables,
            )
            numbered = sorted(row[0] for row in cursor.fetchall())
            for table in numbered:
                cursor.execute(
                    f"ALTER TABLE {self.connection.ops.quote_name(table)} AUTO_INCREMENT = 1"
                )
        log.info("restarted the AUTO_INCREMENT counters of %d emptied tables", len(numbered))

    def after_flush(self) -> None:
        """Django's MySQL flush brackets its DELETEs with SET FOREIGN_KEY_CHECKS = 0 and = 1,
        which would leave the checks on for the rest of the import: rows referring to rows later
        in the stream (trees, cycles, multi-table children) would be refused. Off again."""
        self.connection.disable_constraint_checking()

    def check_foreign_keys(self, tables: list[type[models.Model]]) -> None:
        """Checks were switched off during the import, and Django's own check here introspects
        information_schema table by table (slow on MariaDB): one anti-join per foreign key, from
        the installed models' metadata, does the same work (base.check_references)."""
        keys = [field for model in tables for field in constrained_keys(model)]
        check_references(self.connection, keys, "the imported rows break a foreign key: ")
