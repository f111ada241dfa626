"""manage.py loadstream: import a stream written by dumpstream (or part of it), all or nothing."""

from __future__ import annotations

import sys
from typing import Any

from django.core.management.base import CommandError, CommandParser
from django.db import DatabaseError

from streamdump import exitcodes
from streamdump.errors import ImportFailed, StreamdumpError
from streamdump.management.base import DatabaseCommand, grouped, input_stream, steps_line
from streamdump.selection import Selection
from streamdump.sequencer import load, recover
from streamdump.summary import ImportSummary

# What the database holds after a failed import, by ImportFailed.target_state.
AFTER = {
    ImportFailed.UNCHANGED: "Nothing was imported; the database is unchanged.",
    ImportFailed.RESTORED: "Nothing was imported; the database is unchanged (what the import "
    "had committed was put back as it was, from its journal).",
    ImportFailed.RECOVERY_NEEDED: "The import failed, and putting the database back failed too "
    "(see the log): it holds part of the import. Its journal is kept; once the cause is fixed, "
    "put the database back exactly as it was with: manage.py loadstream --recover",
    ImportFailed.MEDIA_INCOMPLETE: "The database holds the whole import (it was committed), "
    "but its media files were not all moved into place: those not placed were removed. Fix "
    "the storage, then import again with --clear --overwrite-media.",
    ImportFailed.COMMITTED: "The database holds the whole import (it was committed); only "
    "the restart of the emptied tables' numbering after it was cut short (new rows may get "
    "higher ids than after a flush).",
}


class Command(DatabaseCommand):
    help = (
        "Import a stream written by dumpstream, step by step: check the dump against this "
        "database, migrate, then auth, settings and plugin configuration, reload plugins, and "
        "the remaining tables, in bounded batches. Any error leaves the database as it was "
        "(empty, with --clear). Name apps or models to import only those. Model signals are "
        "not sent."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", nargs="?", help="The dump file, or '-' to read standard input.")
        parser.add_argument(
            "--recover",
            action="store_true",
            help="Put the database back exactly as it was before an import into it that was "
            "interrupted (killed, or its machine stopped), from that import's journal; no dump "
            "is read. Only MariaDB/MySQL ever need it: elsewhere an import is one transaction.",
        )
        parser.add_argument(
            "args",
            metavar="app_label[.ModelName]",
            nargs="*",
            help="Import only these apps and models of the dump (default: all of it); with -c, "
            "only their tables are emptied.",
        )
        parser.add_argument(
            "-c",
            "--clear",
            action="store_true",
            help="Empty every table of the target first (migration history is kept).",
        )
        self.add_shared_arguments(parser, "import into")
        parser.add_argument(
            "--ignore-missing",
            action="store_true",
            help="Skip sections of models that are not installed here (and say which) instead "
            "of refusing the dump.",
        )
        parser.add_argument(
            "--no-migrate",
            action="store_true",
            help="Do not run migrate before importing (the schema must already be current).",
        )
        parser.add_argument(
            "--strict-migrations",
            action="store_true",
            help="Refuse a dump older than this code instead of importing it at its migration "
            "state and migrating forward.",
        )
        parser.add_argument(
            "--overwrite-media",
            action="store_true",
            help="Replace media files the target's storage already has that differ from the "
            "dump's (without it, such a file stops the import).",
        )

    def interrupted_note(self, interrupt: KeyboardInterrupt) -> str:
        # The sequencer says what the target holds (it rolled back, or put back what it had
        # committed); interrupted before it started, nothing was written.
        state = getattr(interrupt, "target_state", ImportFailed.UNCHANGED)
        note = AFTER[state]
        return note[0].lower() + note[1:]

    def handle(self, *labels: str, **options: Any) -> None:
        path, self.clear = options["path"], options["clear"]
        if options["recover"]:
            if path or labels:
                raise CommandError(
                    "--recover reads no dump: give no path, app or model",
                    returncode=exitcodes.USAGE,
                )
            self.recover(options["database"])
            return
        if not path:
            raise CommandError(
                "give the dump file to import, or '-' to read standard input",
                returncode=exitcodes.USAGE,
            )
        try:
            Selection.checked(labels, options["exclude"])
        except StreamdumpError as exc:
            raise CommandError(str(exc), returncode=exitcodes.USAGE) from None
        progress = not options["no_progress"] and sys.stderr.isatty()
        try:
            with self.events(options["events"], "import") as events, input_stream(path) as stream:
                summary = load(
                    stream,
                    using=options["database"],
                    clear=options["clear"],
                    batch_size=options["batch_size"],
                    progress=progress,
                    migrate=not options["no_migrate"],
                    ignore_missing=options["ignore_missing"],
                    include=labels,
                    exclude=tuple(options["exclude"]),
                    events=events,
                    overwrite_media=options["overwrite_media"],
                    strict_migrations=options["strict_migrations"],
                )
        except ImportFailed as exc:
            raise self.fail(exc, AFTER[exc.target_state]) from exc
        except StreamdumpError as exc:  # the input could not be opened: nothing was done
            raise self.fail(exc, AFTER[ImportFailed.UNCHANGED]) from exc
        if options["verbosity"] > 0:
            self.report(summary, options["verbosity"])

    def recover(self, using: str) -> None:
        """Put the database back from an interrupted import's journal, and say what was done."""
        try:
            recovered = recover(using)
        except (StreamdumpError, DatabaseError) as exc:
            raise CommandError(
                f"recovery failed: {exc}\nThe journal is kept.",
                returncode=exitcodes.exit_code(exc),
            ) from exc
        if recovered:
            self.stderr.write(
                f"Database {using!r} is back exactly as it was before the interrupted import."
            )
        else:
            self.stderr.write(f"Database {using!r} holds no interrupted import: nothing to do.")

    def report(self, summary: ImportSummary, verbosity: int) -> None:
        """The summary on stderr, in the normal style: rows, step times, what was replaced or
        skipped; per section at -v 2."""
        self.say(
            f"Imported {grouped(summary.total_rows, 'row')} into "
            f"{grouped(len(summary.rows), 'table')} in {summary.seconds:.1f}s: "
            f"{steps_line(summary.steps, every=verbosity > 1)}."
        )
        paths = summary.tables_by_path()
        if paths:
            self.say(
                "Inserted with "
                + "; ".join(f"{path}: {grouped(n, 'table')}" for path, n in paths.items())
                + "."
            )
        if summary.media_files or summary.media_unchanged:
            self.stderr.write(
                f"Media: {summary.media_files} files placed ({summary.media_bytes} bytes), "
                f"{summary.media_unchanged} already there and identical."
            )
        for label, count in summary.replaced.items():
            self.say(f"  {label}: replaced {grouped(count)} rows the target had created itself")
        for message in summary.warnings:
            self.stderr.write(self.style.WARNING(f"  warning: {message}"))
        for label in summary.skipped:
            self.say(f"  {label}: skipped, the model is not installed")
        if verbosity > 1:
            width = max((len(label) for label in summary.rows), default=0)
            for label, count in summary.rows.items():
                path = summary.paths.get(label)
                line = f"  {label:<{width}} {grouped(count):>12} rows"
                self.say(f"{line}  ({path})" if path else line)
