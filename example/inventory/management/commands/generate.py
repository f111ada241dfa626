"""Management command: fill a freshly migrated database with deterministic example data: the
inventory's tables, or with --schema textheavy the wide rows of the second benchmark schema."""

import time
from argparse import ArgumentParser
from typing import Any

from django.core.management.base import CommandError
from django.db import DEFAULT_DB_ALIAS
from textheavy.generate import generate as generate_textheavy

from inventory.generate import DatabaseNotEmptyError, generate, write_media_files
from streamdump.management.base import DatabaseCommand


class Command(DatabaseCommand):
    help = "Generate about --rows deterministic rows (same rows + seed = same data)."

    def add_arguments(self, parser: ArgumentParser) -> None:
        """Declare --rows, --seed and --database."""
        parser.add_argument("--rows", type=int, required=True, help="approximate total rows")
        parser.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
        parser.add_argument(
            "--schema",
            choices=["inventory", "textheavy"],
            default="inventory",
            help="the tables filled: inventory's (default), or textheavy's (benchmarks: about "
            "1 kB of text, JSON, binary, decimals and datetimes a row)",
        )
        parser.add_argument(
            "--media-files",
            type=int,
            default=0,
            help="also write this many of the referenced media files into MEDIA_ROOT",
        )
        parser.add_argument(
            "--database", default=DEFAULT_DB_ALIAS, help='database alias (default "default")'
        )

    def handle(self, *args: Any, **options: Any) -> None:
        """Run the generator and print a per-model summary."""
        if options["rows"] < 1:
            raise CommandError("--rows must be positive")
        if options["schema"] != "inventory" and options["media_files"]:
            raise CommandError("--media-files: only the inventory schema refers to media files")
        fill = generate if options["schema"] == "inventory" else generate_textheavy
        started = time.perf_counter()
        try:
            counts = fill(options["rows"], seed=options["seed"], using=options["database"])
        except DatabaseNotEmptyError as exc:
            raise CommandError(str(exc)) from exc
        elapsed = time.perf_counter() - started
        width = max(len(label) for label in counts)
        for label, n in counts.items():
            self.stdout.write(f"{label:<{width}}  {n:>9}")
        total = sum(counts.values())
        self.stdout.write(f"{'total':<{width}}  {total:>9}")
        self.stdout.write(self.style.SUCCESS(f"generated {total} rows in {elapsed:.1f}s"))
        if options["media_files"]:
            written = write_media_files(options["media_files"], using=options["database"])
            self.stdout.write(f"wrote {written} media files")
