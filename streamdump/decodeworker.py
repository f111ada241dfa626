"""Decode a section's rows in a second process while this one inserts them (issue 15).

An import spends about as long decoding rows (JSON parse, digest, codecs) as the database spends
inserting them, and one process does one after the other on one core. Two threads would contend
for the GIL (measured: no gain), so a section large enough to pay is decoded by a worker process
forked for it:

- this process goes on reading the stream (decompression, framing, every control line and its
  verification: reader.py) and sends each batch of row lines to the worker;
- the worker parses them (RowParser: digest, widths), decodes them with the loader's own row
  function, and sends the values back while this process inserts the batch before: marshalled
  (_Wire) where every value is of a type marshal writes once the driver's own adapters have
  run (SQLite: a Decimal becomes the str sqlite3 would bind), else pickled;
- at the section's end line the worker gives its digest, which the reader verifies there.

Why fork, not spawn: the worker runs the very row functions the loader built (Django's fields,
the backend's adapters, the historical models of an upgrade, natural keys read from the target),
which a fresh interpreter could not rebuild. So the worker is forked only from a process with
one thread, it never uses the inherited database connections (each wrapper forgets its
connection: any use would open a new one), and it ends with os._exit (multiprocessing's), so no
finalizer closes what the parent still uses.

Memory stays bounded: at most WINDOW batches are in flight beyond the one being inserted.
Errors keep their stream order: a bad row the worker finds is raised, with its section, row,
column and line, after the batches before it were inserted, exactly where the import in one
process raises it; a damaged stream found while reading ahead is raised after the batches in
flight. Kill safety: the worker exits when this process dies (its pipe closes, and on Linux
the kernel kills it); if the worker dies, the import fails with a StreamdumpError naming the
section, and rolls back. It ignores Ctrl-C: this process handles it, as without a worker.
"""

from __future__ import annotations

import collections
import contextlib
import copyreg
import io
import logging
import marshal
import multiprocessing
import os
import pickle
import queue
import resource
import signal
import threading
import traceback
from collections.abc import Callable, Iterator
from typing import Any

from .cpuwatch import cpus
from .errors import FormatError, StreamdumpError
from .files import widen_pipe_fd
from .reader import RowParser, Section

log = logging.getLogger("streamdump")

# Batches sent to the worker beyond the one being inserted: one being decoded, one waiting. More
# only holds more memory; the two sides take turns at about the same pace.
WINDOW = 2
_END = b""  # the message that asks the worker for the section's digest
# The first byte of a batch of values sent marshalled; every other message is a pickle, whose
# first byte (protocol 2 and later) is always b"\x80".
_MARSHALLED = b"M"
Work = Callable[[list[list[Any]], int], list[Any]]
# Work from a batch's row lines (unparsed), which it gives the parser to account for (or parse).
LineWork = Callable[[RowParser, list[bytes], int], Any]
Adapters = dict[type, Callable[[Any], Any]]


def worker_pays(expected_rows: int | None, min_rows: int | None) -> bool:
    """Whether a section of `expected_rows` (None: not announced) is decoded in a worker.

    Not where it cannot pay: DECODE_WORKER off (`min_rows` None), fewer rows than `min_rows`,
    one CPU; nor where it cannot be done safely: no fork, or other threads running (a forked
    child could inherit a lock one of them holds).
    """
    if min_rows is None or (expected_rows is not None and expected_rows < min_rows):
        return False
    if len(cpus()) < 2 or "fork" not in multiprocessing.get_all_start_methods():
        return False
    return threading.active_count() == 1


class _WirePickler(pickle.Pickler):
    # sqlite3's Binary is a memoryview, which pickle refuses; every driver stores bytes alike.
    dispatch_table = copyreg.dispatch_table.copy()
    dispatch_table[memoryview] = lambda view: (bytes, (view.tobytes(),))


def _dumps(message: tuple[Any, ...]) -> bytes:
    buffer = io.BytesIO()
    _WirePickler(buffer, protocol=pickle.HIGHEST_PROTOCOL).dump(message)
    return buffer.getvalue()


class _Wire:
    """How the worker sends a section's values: marshalled where it can, else pickled.

    The importing process is the critical path, and reading marshal costs it about half what
    unpickling the same values does (a Decimal several times more: docs/PERFORMANCE.md). Marshal
    writes only exact str, int, float, bool, None, bytes, lists and tuples, so a value of another
    class whose driver adapter is known (`adapters`: the class -> what the driver would bind
    instead, e.g. sqlite3's str for a Decimal; a memoryview -> its bytes, which every driver
    stores alike) is replaced by that first, in the columns where such values were met. A value
    neither handles (a custom field's object, a subclass of str) sends this batch and the
    section's next ones pickled, as they are.
    """

    def __init__(self, adapters: Adapters) -> None:
        self.adapters: Adapters = {memoryview: bytes, **adapters}
        self.columns: set[int] = set()  # where values to adapt were met
        self.marshals = True

    def encode(self, first: int, values: list[Any]) -> bytes:
        """The message carrying the decoded batch whose first row is numbered `first`."""
        # Not a list of rows: a block the loader made for its inserter (pgcopy.CopyBlock),
        # which pickles as the bytes it holds.
        if self.marshals and values.__class__ is list:
            if self.columns:
                self._adapt(values, self.columns)
            try:
                return self._marshalled(first, values)
            except ValueError:  # a value marshal cannot write: adapt the columns holding one
                found = self._columns_to_adapt(values) - self.columns
                if found:
                    self.columns |= found
                    self._adapt(values, found)
                    try:
                        return self._marshalled(first, values)
                    except ValueError:
                        pass
            self.marshals = False
        return _dumps(("values", first, values))

    @staticmethod
    def _marshalled(first: int, values: list[Any]) -> bytes:
        # Rows as tuples: the importing process reads and frees a tuple faster than a list
        # (one allocation instead of two), and executemany takes either.
        return _MARSHALLED + first.to_bytes(8, "little") + marshal.dumps(list(map(tuple, values)))

    def _columns_to_adapt(self, values: list[Any]) -> set[int]:
        adapters = self.adapters
        if any(row.__class__ is not list for row in values):
            return set()  # rows the row function did not make: left to pickle
        return {i for row in values for i, v in enumerate(row) if v.__class__ in adapters}

    def _adapt(self, values: list[Any], columns: set[int]) -> None:
        adapters = self.adapters
        for row in values:
            for i in columns:
                adapt = adapters.get(row[i].__class__)
                if adapt is not None:
                    row[i] = adapt(row[i])


def decode_message(data: bytes) -> tuple[Any, ...]:
    """A message from the worker: ("values", first, values) for a marshalled batch, else the
    unpickled tuple."""
    if data[:1] == _MARSHALLED:
        view = memoryview(data)
        return "values", int.from_bytes(view[1:9], "little"), marshal.loads(view[9:])
    message: tuple[Any, ...] = pickle.loads(data)
    return message


class WorkerDied(StreamdumpError):
    """The process decoding a section stopped without a word (killed, out of memory)."""


class DecodeWorker:
    """A forked process that parses and decodes the row lines of one section, batch by batch.

    `decode(rows, first)` turns a batch of parsed rows into values for the target; it runs in
    the worker. `fallback` does the same here, for a batch whose values cannot be pickled (the
    worker then sends the parsed rows). `adapters` (class -> function) are the driver's own
    adapters of value classes marshal cannot write (_Wire), applied in the worker.
    `decode_lines(parser, lines, first)`, if given, does the work from the batch's lines instead
    (the inserter's own encoding of the row lines, pgcsv.py), with the worker's parser.
    """

    def __init__(
        self,
        section: Section,
        decode: Work,
        fallback: Work,
        adapters: Adapters | None = None,
        decode_lines: LineWork | None = None,
    ) -> None:
        self.section, self.fallback = section, fallback
        self.peak_rss_kb = 0
        self._in_flight = 0  # batches sent whose result was not received yet
        self._ready: collections.deque[tuple[int, list[Any]] | BaseException] = collections.deque()
        context = multiprocessing.get_context("fork")
        worker_in, self._to_worker = context.Pipe(duplex=False)
        self._from_worker, worker_out = context.Pipe(duplex=False)
        # A batch is a few hundred kilobytes each way. Through 64 KiB pipes each message took
        # several reads, and the worker's reading thread waits for the GIL (up to the switch
        # interval, 5 ms) after each one while the worker decodes: the importing process sat
        # blocked in send, and the worker blocked in its send until this one read the result.
        # With 1 MiB, a message goes in one write and out in one read (kernel memory, not RSS).
        for end in (self._to_worker, self._from_worker):
            widen_pipe_fd(end.fileno())
        parser = RowParser(section)  # the worker's copy parses; this one is never used
        self._process = context.Process(
            target=_serve,
            args=(
                worker_in,
                worker_out,
                [self._to_worker, self._from_worker],
                os.getpid(),
                parser,
                decode,
                adapters or {},
                decode_lines,
            ),
            name=f"streamdump decode {section.model}",
            daemon=True,
        )
        start(self._process, worker_in, worker_out)
        log.debug("section %s: decoding in worker process %s", section.model, self._process.pid)

    def batches(
        self, line_batches: Iterator[tuple[int, list[bytes]]]
    ) -> Iterator[tuple[int, list[Any]]]:
        """(first row number, values) for each batch of `line_batches`, which are the section's
        lines read with `finish` as the digest to verify (Section.line_batches)."""
        error: StreamdumpError | None = None
        while True:
            try:
                first, lines = next(line_batches)
            except StopIteration:
                break
            except StreamdumpError as exc:  # raised after the batches before it
                error = exc
                break
            self._send(first.to_bytes(8, "little") + b"\n".join(lines))
            self._in_flight += 1
            while self._in_flight > WINDOW:
                yield self._take()
        while self._ready or self._in_flight:
            yield self._take()
        if error is not None:
            raise error

    def finish(self) -> str:
        """The digest of every line the worker parsed; the results still in flight wait here."""
        self._send(_END)
        while self._in_flight:
            result = self._receive()
            self._ready.append(result)
            if isinstance(result, BaseException):
                raise result
        kind, digest, peak_rss_kb = self._message()
        assert kind == "end", kind
        self.peak_rss_kb = peak_rss_kb
        log.debug(
            "section %s: decoded by worker process %s (its peak RSS %d MB)",
            self.section.model,
            self._process.pid,
            peak_rss_kb // 1024,
        )
        return str(digest)

    def close(self) -> None:
        """Stop the worker (it exits when its pipe closes) and wait for it."""
        stop(self._process, self._to_worker, self._from_worker)

    # --- this side of the pipes --------------------------------------------------------------

    def _take(self) -> tuple[int, list[Any]]:
        result = self._ready.popleft() if self._ready else self._receive()
        if isinstance(result, BaseException):
            raise result
        return result

    def _receive(self) -> tuple[int, list[Any]] | BaseException:
        message = self._message()
        self._in_flight -= 1
        kind = message[0]
        if kind == "values":
            return message[1], message[2]
        if kind == "rows":
            return message[1], self.fallback(message[2], message[1])
        if kind == "format":
            message_text, line, section, row, column = message[1:]
            return FormatError(message_text, line=line, section=section, row=row, column=column)
        return StreamdumpError(
            f"decoding section {self.section.model} failed in the worker process:\n{message[1]}"
        )

    def _message(self) -> tuple[Any, ...]:
        try:
            data = self._from_worker.recv_bytes()
        except (EOFError, OSError):
            raise self._died() from None
        return decode_message(data)

    def _send(self, data: bytes) -> None:
        try:
            self._to_worker.send_bytes(data)
        except OSError:  # BrokenPipeError: it is gone
            raise self._died() from None

    def _died(self) -> WorkerDied:
        self._process.join(timeout=5)
        code = self._process.exitcode
        if code is not None and code < 0:
            how = f"was killed by signal {signal.Signals(-code).name}"
        elif code is not None:
            how = f"exited with status {code}"
        else:
            how = "stopped answering"
        return WorkerDied(
            f"the worker process decoding section {self.section.model} {how}; nothing was imported"
        )


@contextlib.contextmanager
def worker_for(
    section: Section,
    decode: Work,
    fallback: Work,
    adapters: Adapters | None = None,
    decode_lines: LineWork | None = None,
) -> Iterator[DecodeWorker]:
    """A DecodeWorker for the section, stopped when the block ends, however it ends."""
    worker = DecodeWorker(section, decode, fallback, adapters, decode_lines)
    try:
        yield worker
    finally:
        worker.close()


def decoded_batches(
    section: Section,
    decode: Work,
    fallback: Work,
    adapters: Adapters | None = None,
    decode_lines: LineWork | None = None,
) -> Iterator[tuple[int, Any]]:
    """(first row number, values) for each batch of the section, decoded in a worker process;
    `adapters` and `decode_lines` as DecodeWorker takes them."""
    with worker_for(section, decode, fallback, adapters, decode_lines) as worker:
        yield from worker.batches(section.line_batches(worker.finish))


def start(process: Any, *theirs: Any) -> None:
    """Start a forked process and close `theirs`, its ends of the pipes, here. It starts with
    Ctrl-C blocked and unblocks it once it ignores it (_settle): a Ctrl-C at the terminal
    signals it too, and must not print its traceback."""
    blocked = {signal.SIGINT, signal.SIGTERM}
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, blocked)
    try:
        process.start()
    finally:
        for end in theirs:
            end.close()
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def stop(process: Any, *ends: Any) -> None:
    """Close this side's ends of a forked process's pipes (it exits when they close) and wait
    for it; killed if it has not gone within five seconds."""
    for end in ends:
        end.close()
    process.join(timeout=5)
    if process.exitcode is None:
        process.kill()
        process.join()


# --- the worker's side -----------------------------------------------------------------------


_INHERITED: list[Any] = []  # the parent's database connections: kept, never used nor closed


def _settle(parent: int) -> None:
    """Ctrl-C is the parent's to handle; the worker dies with its parent; no database."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT, signal.SIGTERM})
    with contextlib.suppress(Exception):  # Linux: killed when the parent dies
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    if os.getppid() != parent:
        os._exit(1)
    with contextlib.suppress(Exception):
        from django.db import connections

        for wrapper in connections.all(initialized_only=True):
            _INHERITED.append(wrapper.connection)
            wrapper.connection = None


def _malloc_trim() -> Callable[[], Any]:
    """glibc's malloc_trim(0), or a function doing nothing where there is none."""
    with contextlib.suppress(Exception):
        import ctypes

        trim = ctypes.CDLL(None).malloc_trim
        return lambda: trim(0)
    return lambda: None


def resident_bytes() -> int:
    """This process's resident memory now (Linux; 0 elsewhere)."""
    try:
        with open("/proc/self/statm", "rb") as statm:
            return int(statm.read().split()[1]) * _PAGE
    except (OSError, ValueError, IndexError):
        return 0


# Batches of wide rows are megabytes each: glibc then raises its mmap threshold (to the size of
# the largest block freed, up to 32 MB) and takes them from its heaps, where the freed batches
# stay, split up by the small objects decoding made between them: measured, the worker of a
# 1M-row section of the textheavy schema grew to 290-400 MB. Free pages are given back once the
# worker holds more than TRIM_ABOVE (about 65-70 MB is its usual size): after every batch, the
# next batch's pages had to be faulted in again, which cost about half the section's time more.
TRIM_ABOVE = 80 << 20
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
trim = _malloc_trim()


def _receive_into(inbox: Any, messages: queue.SimpleQueue[bytes | None]) -> None:
    # A thread, so that the parent never waits to send while the worker waits to send to it.
    try:
        while True:
            messages.put(inbox.recv_bytes())
    except (EOFError, OSError):
        messages.put(None)


def _serve(
    inbox: Any,
    outbox: Any,
    theirs: list[Any],
    parent: int,
    parser: RowParser,
    decode: Work,
    adapters: Adapters,
    decode_lines: LineWork | None,
) -> None:
    for end in theirs:  # the parent's ends: the pipes close when the parent's copies do
        end.close()
    _settle(parent)
    wire = _Wire(adapters)
    messages: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()
    threading.Thread(target=_receive_into, args=(inbox, messages), daemon=True).start()
    try:
        while (data := messages.get()) is not None:
            if data == _END:
                peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
                outbox.send_bytes(_dumps(("end", parser.hexdigest(), peak)))
                return
            first, data = int.from_bytes(data[:8], "little"), data[8:]
            try:
                if decode_lines is not None:
                    lines = data.split(b"\n")
                    del data
                    rows, values = [], decode_lines(parser, lines, first)
                    del lines
                else:
                    rows = parser.parse_joined(data, first)
                    del data
                    values = decode(rows, first)
            except FormatError as exc:
                outbox.send_bytes(
                    _dumps(("format", exc.message, exc.line, exc.section, exc.row, exc.column))
                )
                return
            except Exception:
                outbox.send_bytes(_dumps(("crash", traceback.format_exc())))
                return
            try:
                payload = wire.encode(first, values)
            except Exception:  # a value pickle refuses: the parent decodes this batch itself
                payload = _dumps(("rows", first, rows))
            del rows, values
            outbox.send_bytes(payload)
            del payload
            if resident_bytes() > TRIM_ABOVE:
                trim()
    except OSError:  # the parent closed its end: stop
        return
