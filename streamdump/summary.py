"""What an import did, reported as it happens: the one place the sequencer tells of progress.

The sequencer reports each step's start and end, rows as they are loaded and each section when
it is done, to ImportEvents; ImportEvents logs them, moves the progress bar and fills in the
ImportSummary that load() returns. A caller that wants the events as they come hooks in here.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from .events import Events

log = logging.getLogger("streamdump")


@dataclass
class ImportSummary:
    """What an import wrote, and how long each step took."""

    rows: dict[str, int] = field(default_factory=dict)
    natural_added: dict[str, int] = field(default_factory=dict)
    replaced: dict[str, int] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # e.g. a fixture from another version
    steps: list[tuple[str, float]] = field(default_factory=list)
    seconds: float = 0.0
    # The insert path each section went in by (LOAD DATA LOCAL INFILE, COPY, multi-row INSERT,
    # executemany, merged by natural key), with why a faster one was not used, if it was not.
    paths: dict[str, str] = field(default_factory=dict)
    # Media files placed in the target's storage, their bytes, and those it already had.
    media_files: int = 0
    media_bytes: int = 0
    media_unchanged: int = 0

    @property
    def total_rows(self) -> int:
        return sum(self.rows.values())

    def tables_by_path(self) -> dict[str, int]:
        """How many sections went in by each insert path."""
        counts: dict[str, int] = {}
        for path in self.paths.values():
            counts[path] = counts.get(path, 0) + 1
        return counts


@dataclass
class Loaded:
    """What a loader did with one section."""

    rows: int = 0
    added: int | None = None  # merged by natural key: rows the target did not have
    replaced: int = 0  # start-up rows of the target that made way for the dump's
    path: str | None = None  # the insert path (summary.paths)


class _NoBar:
    def update(self, n: int) -> None:
        pass

    def set_description(self, desc: str) -> None:
        pass


class ImportEvents:
    """Receives what the sequencer reports; records it in `summary`, shows it on the bar and
    sends it to `events` (events.py)."""

    def __init__(self, events: Events | None = None) -> None:
        self.summary = ImportSummary()
        self.bar: Any = _NoBar()
        self.events = events or Events(command="import")

    def started(self, rows: int, tables: int) -> None:
        self.events.start(rows, tables)

    def step_started(self, name: str) -> None:
        log.debug("step %s: started", name)
        self.bar.set_description(f"import: {name}")  # a long verify or migrate shows as such
        self.events.step_start(name)

    def step_finished(self, name: str, seconds: float) -> None:
        self.summary.steps.append((name, seconds))
        log.info("step %s: %.2fs", name, seconds)
        self.events.step_end(name, seconds)

    def rows_loaded(self, count: int) -> None:
        self.bar.update(count)

    def section_done(
        self, label: str, loaded: Loaded, seconds: float, size: int | None = None
    ) -> None:
        log.debug("%s: %d rows in %.2fs (%s)", label, loaded.rows, seconds, loaded.path)
        self.events.section(label, loaded.rows, size, seconds, path=loaded.path)
        self.summary.rows[label] = loaded.rows
        if loaded.path is not None:
            self.summary.paths[label] = loaded.path
        if loaded.added is not None:
            self.summary.natural_added[label] = loaded.added
        if loaded.replaced:
            self.summary.replaced[label] = loaded.replaced
            log.info("%s: replaced %d rows the target had made itself", label, loaded.replaced)

    def warning(self, message: str) -> None:
        self.summary.warnings.append(message)
        log.warning("%s", message)

    def skipped(self, labels: list[str]) -> None:
        self.summary.skipped = list(labels)

    def finished(self) -> None:
        summary = self.summary
        paths = summary.tables_by_path()
        for path, tables in paths.items():
            log.info("insert path: %s for %d tables", path, tables)
        self.events.summary(
            summary.total_rows, len(summary.rows), None, summary.seconds, dict(summary.steps),
            paths=paths,
        )  # fmt: skip
