"""A fixture's first pass on two cores: a forked helper converts the records of some models.

The first pass (fixturestream.py) is serial and bounds a fixture import: parse every record,
convert it to table rows, spool them. The importing process alone must parse (it reads the
input, which may be a pipe), but converting and spooling are per model: the records of a model
that first appears once the helper runs are sent to it (marshalled, in batches) and it converts
and spools them, into a spool of its own, while this process parses and converts the others.
A model's rows are all converted by one process, so the ids given to records without a pk and
to many-to-many rows, which count per table in file order, are the same as in one process.

Models go to the side that had less work since the helper started (estimated from their
columns; this process also parses every record, the helper unmarshals its own); regenerated
models (content types, permissions) and models not installed stay here. The helper is forked,
as the decode worker is, only where it can pay and be safe (helper_pays: two CPUs, fork, one
thread, a core spare since the command started), and only after
HELPER_AFTER records: a small fixture is read as before.

Errors keep their order: the first bad record in file order is the one reported, whichever
process found it. The helper dies with this process; if it dies, the import fails and says so.
"""

from __future__ import annotations

import contextlib
import logging
import marshal
import multiprocessing
import os
import pickle
import traceback
from collections.abc import Callable
from typing import Any

from .conf import Config
from .cpuwatch import core_to_spare
from .decodeworker import _settle, start, stop, worker_pays
from .errors import FormatError, StreamdumpError
from .files import widen_pipe_fd
from .fixturerows import KeySet, RecordRows
from .fixturespool import ChunkSpool

log = logging.getLogger("streamdump")

HELPER_AFTER = 2000  # records read before the helper is forked (a small fixture: none)
# Records per message to the helper, at most; a message also goes once this much more input
# was read: the records waiting for it were parsed from at most that and one piece of input
# (framing's, at most a megabyte): bounded memory, however large the records.
_BATCH, _BATCH_BYTES = 512, 1 << 20
# The work of each side, estimated in microseconds (measured on the example project's fixture,
# 2 cores of 2024): converting a record costs about 1 + 0.3 per column; this side parses every
# record (about 1.7), the helper unmarshals its own (about 0.4 of the conversion more).
_PARSE, _BASE, _PER_COLUMN, _UNMARSHAL = 3.0, 1.0, 0.3, 1.4
_END = b""
_MARSHALLED, _PICKLED = b"M", b"P"

# What the helper gives back: per table, its columns that held a natural key; per model, the
# natural keys of each foreign key; the index of its spool.
Found = tuple[dict[str, set[str]], dict[str, dict[str, KeySet]]]


def helper_pays(config: Config) -> bool:
    """Whether a first-pass helper is forked: where a decode worker may be (two CPUs, fork, no
    other thread, DECODE_WORKER on), and a core was spare since the command started (or, in a
    process that did not watch from its start, by the load average): as the decode worker is
    off where none was spare, since it would only compete. DECODE_WORKER "always" forks it
    regardless."""
    if not worker_pays(None, config.decode_worker_min_rows if config.decode_worker else None):
        return False
    if config.decode_worker == "always" or core_to_spare():
        return True
    log.info("the fixture is read in one process: its CPUs had no core to spare for a helper")
    return False


def merged_natural(by_label: dict[Any, RecordRows | None]) -> Found:
    """The natural-key columns per table and the natural keys per model of converted records."""
    natural: dict[str, set[str]] = {}
    keys: dict[str, dict[str, KeySet]] = {}
    for rows in by_label.values():
        if rows is None:
            continue
        for table, columns in rows.natural.items():
            natural.setdefault(table, set()).update(columns)
        known = keys.setdefault(rows.label, {})
        for column, found in rows.keys.items():
            if column in known:
                known[column].merge(found)
            else:
                known[column] = found
    return natural, keys


def cost(rows: RecordRows) -> float:
    """The estimated time to convert and spool one record of the model `rows` converts."""
    return _BASE + _PER_COLUMN * (len(rows.columns) + 2 * len(rows.m2m))


class FirstPassHelper:
    """The forked process converting the records of the models given to it (see above).

    `make_rows(label, number)` builds the converter of a model's records; `next_id(label)`
    numbers the rows the fixture gives no id; both are the first pass's own, inherited.
    """

    def __init__(
        self,
        make_rows: Callable[[Any, int], RecordRows | None],
        next_id: Callable[[str], int],
    ) -> None:
        self.spool = ChunkSpool()  # made here: this process reads it back
        self.labels: set[Any] = set()
        self.here = self.there = 0.0  # work of each side since the start (estimated)
        self.finished = False  # finish() was called
        self._read_at = 0  # bytes of input read when the last message went
        self._numbers: list[int] = []
        self._records: list[Any] = []
        context = multiprocessing.get_context("fork")
        helper_in, self._to_helper = context.Pipe(duplex=False)
        self._from_helper, helper_out = context.Pipe(duplex=False)
        for end in (self._to_helper, self._from_helper):
            widen_pipe_fd(end.fileno())
        self._process = context.Process(
            target=_serve,
            args=(helper_in, helper_out, [self._to_helper, self._from_helper], os.getpid(),
                  make_rows, next_id, self.spool),
            name="streamdump fixture first pass",
            daemon=True,
        )  # fmt: skip
        start(self._process, helper_in, helper_out)

    def takes(self, label: Any, rows: RecordRows) -> bool:
        """Whether the helper converts the records of a model seen for the first time, whose
        records give it as `label`."""
        if rows.regenerated or self.there > self.here:
            return False
        self.labels.add(label)
        return True

    def converted_here(self, rows: RecordRows) -> None:
        """Count a record this process parsed and converted."""
        self.here += _PARSE + cost(rows)

    def add(self, number: int, record: Any, rows: RecordRows, bytes_read: int) -> None:
        """Hand record `number`, of the model `rows` converts, over to the helper; the input
        read so far was `bytes_read` bytes."""
        self.here += _PARSE
        self.there += _UNMARSHAL * cost(rows)
        self._numbers.append(number)
        self._records.append(record)
        if len(self._numbers) >= _BATCH or bytes_read - self._read_at >= _BATCH_BYTES:
            self._read_at = bytes_read
            self._send_batch()

    def _send_batch(self) -> None:
        if not self._numbers:
            return
        message = (self._numbers, self._records)
        try:
            data = _MARSHALLED + marshal.dumps(message)
        except ValueError:  # a Decimal (the exact parser's non-integers): pickled
            data = _PICKLED + pickle.dumps(message, pickle.HIGHEST_PROTOCOL)
        self._numbers, self._records = [], []
        self._send(data)

    def finish(self) -> tuple[tuple[int, str] | None, Found]:
        """Wait for the helper to convert what it was given: (its first error as (record
        number, message), or None; what it found); its spool's rows are then in `spool`."""
        self.finished = True
        self._send_batch()
        self._send(_END)
        try:
            data = self._from_helper.recv_bytes()
        except (EOFError, OSError):
            raise self._died() from None
        error, crash, found, index = pickle.loads(data)
        if crash is not None:
            raise StreamdumpError(f"the fixture's first pass failed in its helper:\n{crash}")
        if error is None:
            self.spool.adopt_index(index)
        return error, found

    def close(self) -> None:
        """Stop the helper (it exits when its pipe closes) and wait for it."""
        stop(self._process, self._to_helper, self._from_helper)

    def _send(self, data: bytes) -> None:
        try:
            self._to_helper.send_bytes(data)
        except OSError:
            raise self._died() from None

    def _died(self) -> StreamdumpError:
        self._process.join(timeout=5)
        return StreamdumpError(
            f"the process helping to read the fixture stopped (exit code "
            f"{self._process.exitcode}); nothing was imported"
        )


def _serve(
    inbox: Any,
    outbox: Any,
    theirs: list[Any],
    parent: int,
    make_rows: Callable[[Any, int], RecordRows | None],
    next_id: Callable[[str], int],
    spool: ChunkSpool,
) -> None:
    for end in theirs:
        end.close()
    _settle(parent)
    by_label: dict[Any, RecordRows | None] = {}
    add = spool.add
    error: tuple[int, str] | None = None
    crash: str | None = None
    number = 0
    with contextlib.suppress(EOFError, OSError):  # the parent closed its end: stop
        while (data := inbox.recv_bytes()) != _END:
            if error is not None or crash is not None:
                continue  # the rest is read and dropped: the parent never waits to send
            body = memoryview(data)[1:]
            loads = marshal.loads if data[:1] == _MARSHALLED else pickle.loads
            numbers, records = loads(body)
            del data, body
            try:
                for number, record in zip(numbers, records, strict=True):
                    label = record["model"]
                    rows = by_label.get(label)
                    if rows is None:
                        rows = by_label[label] = make_rows(label, number)
                    for table, row in rows.rows(number, record, next_id):  # type: ignore[union-attr]
                        try:
                            add(table, row)
                        except TypeError as exc:  # a value JSON cannot hold: the same error
                            raise rows.unwritable(number, table, row, exc) from None  # type: ignore[union-attr]
            except FormatError as exc:
                error = (number, exc.message)
            except Exception:
                crash = traceback.format_exc()
        index = spool.index() if error is None and crash is None else {}
        found = merged_natural(by_label) if error is None and crash is None else ({}, {})
        outbox.send_bytes(pickle.dumps((error, crash, found, index), pickle.HIGHEST_PROTOCOL))
