"""Events for machines: what an export or an import does, as it happens, for a callback.

Both commands and the library use this one module. An event is a dict with an "event" key and
a few fields; `json_lines()` turns a text stream into a callback writing one JSON object per
line (the commands' `--events PATH|-`). Events, in order:

    start        command, rows, tables (totals from the database or the dump's header)
    step_start   step
    step_end     step, seconds
    section      model, rows, bytes (compressed, export only; null on import), seconds,
                 path (import only: the insert path, summary.ImportSummary.paths)
    warning      message (every warning the streamdump logger records)
    summary      rows, tables, bytes, seconds, steps {name: seconds},
                 paths (import only: {insert path: tables})
    error        kind, message, section, row, column (when known), exit_code,
                 target_state (import only: unchanged, restored, recovery needed,
                 media incomplete, committed)

Every event also has "time" (seconds since the epoch).
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from collections.abc import Callable, Iterator
from typing import IO, Any

from .errors import FormatError, ImportFailed

Callback = Callable[[dict[str, Any]], None]

log = logging.getLogger("streamdump")


def json_lines(stream: IO[str]) -> Callback:
    """A callback writing each event to `stream` as one line of JSON, flushed at once."""

    def write(event: dict[str, Any]) -> None:
        stream.write(json.dumps(event, default=str) + "\n")
        stream.flush()

    return write


class Events:
    """Sends events to a callback; without one, does nothing."""

    def __init__(self, callback: Callback | None = None, command: str = "") -> None:
        self.callback, self.command = callback, command

    def emit(self, event: str, **fields: Any) -> None:
        """Send one event."""
        if self.callback is not None:
            self.callback({"event": event, "time": round(time.time(), 3), **fields})

    def start(self, rows: int, tables: int) -> None:
        self.emit("start", command=self.command, rows=rows, tables=tables)

    def step_start(self, step: str) -> None:
        self.emit("step_start", step=step)

    def step_end(self, step: str, seconds: float) -> None:
        self.emit("step_end", step=step, seconds=round(seconds, 4))

    def section(
        self, model: str, rows: int, size: int | None, seconds: float, path: str | None = None
    ) -> None:
        extra = {} if path is None else {"path": path}
        self.emit("section", model=model, rows=rows, bytes=size, seconds=round(seconds, 4), **extra)

    def summary(
        self,
        rows: int,
        tables: int,
        size: int | None,
        seconds: float,
        steps: dict[str, float],
        paths: dict[str, int] | None = None,
    ) -> None:
        rounded = {name: round(value, 4) for name, value in steps.items()}
        extra = {} if paths is None else {"paths": paths}
        self.emit(
            "summary", rows=rows, tables=tables, bytes=size, seconds=round(seconds, 4),
            steps=rounded, **extra,
        )  # fmt: skip

    def error(self, error: BaseException) -> None:
        """The error that ended the command: its kind, message, where, the target's state."""
        from .exitcodes import classify

        kind, code = classify(error)
        original = error.error if isinstance(error, ImportFailed) else error
        where = original if isinstance(original, FormatError) else None
        fields: dict[str, Any] = {
            "kind": kind,
            "message": str(error) or type(error).__name__,
            "section": getattr(where, "section", None),
            "row": getattr(where, "row", None),
            "column": getattr(where, "column", None),
            "exit_code": code,
        }
        if isinstance(error, ImportFailed) or hasattr(error, "target_state"):
            fields["target_state"] = error.target_state  # an interrupted import has one too
        self.emit("error", **fields)
        error.streamdump_event_sent = True  # type: ignore[attr-defined]  # once per error

    def error_once(self, error: BaseException) -> None:
        """The error event, unless one was sent for this error already (by the library)."""
        if not getattr(error, "streamdump_event_sent", False):
            self.error(error)

    @contextlib.contextmanager
    def warnings(self) -> Iterator[None]:
        """While the block runs, send the streamdump logger's warnings as events too."""
        if self.callback is None:
            yield
            return
        handler = _WarningEvents(self)
        log.addHandler(handler)
        try:
            yield
        finally:
            log.removeHandler(handler)


class _WarningEvents(logging.Handler):
    def __init__(self, events: Events) -> None:
        super().__init__(level=logging.WARNING)
        self.events = events

    def emit(self, record: logging.LogRecord) -> None:
        self.events.emit("warning", message=record.getMessage())
