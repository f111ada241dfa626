"""manage.py loadstream: import a stream written by dumpstream, all or nothing."""

from __future__ import annotations

import sys

from django.core.management.base import BaseCommand, CommandError
from django.db import DEFAULT_DB_ALIAS

from streamdump.errors import StreamdumpError
from streamdump.files import open_input
from streamdump.sequencer import load


class Command(BaseCommand):
    help = (
        "Import a stream written by dumpstream into a migrated database, in bounded batches "
        "and one transaction: any error leaves the database as it was. Signals are not sent."
    )

    def add_arguments(self, parser):
        parser.add_argument("path", help="The dump file, or '-' to read standard input.")
        parser.add_argument(
            "-c",
            "--clear",
            action="store_true",
            help="Empty every table of the target first (migration history is kept).",
        )
        parser.add_argument(
            "--database",
            default=DEFAULT_DB_ALIAS,
            help='The database to import into. Defaults to the "default" database.',
        )
        parser.add_argument("--batch-size", type=int, default=None, help="Rows per insert.")
        parser.add_argument(
            "--no-progress", action="store_true", help="Do not show a progress bar on stderr."
        )

    def handle(self, *args, **options):
        progress = not options["no_progress"] and sys.stderr.isatty()
        try:
            with open_input(options["path"]) as stream:
                summary = load(
                    stream,
                    using=options["database"],
                    clear=options["clear"],
                    batch_size=options["batch_size"],
                    progress=progress,
                )
        except StreamdumpError as exc:
            raise CommandError(f"{exc}\nNothing was imported; the database is unchanged.") from exc
        if options["verbosity"] > 0:
            self.stderr.write(
                f"Imported {summary.total_rows} rows into {len(summary.rows)} tables "
                f"in {summary.seconds:.1f}s."
            )
