"""Where streams come from and go to: dump files, FIFOs and devices, stdin and stdout.

A dump holds password hashes, tokens and every user's data: files and temporary files are made
owner-only (0600) whatever the umask. A regular file is written under a temporary name beside
its destination, locked while it is written, and renamed into place only when complete; a
temporary file left by an export that was killed (unlocked) is removed by the next export to
the same path. What is not a regular file (a FIFO, a device) is written in place.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import signal
import stat
import sys
import tempfile
from collections.abc import Callable, Iterator
from types import FrameType
from typing import BinaryIO

from .errors import OutputError, StreamdumpError

# Owner read and write: the widest mode a dump file gets (issue 10).
DUMP_MODE = 0o600
# The ending of every temporary file an export writes, so that a later export can find them.
PARTIAL_SUFFIX = ".streamdump-partial"
# Signals after which an export stops, removes its temporary file and exits with 128 + the
# signal, without a traceback (SIGKILL cannot be caught: the next export cleans up).
_STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP, signal.SIGINT)

Notice = Callable[[str], None]


class Interrupted(SystemExit):
    """The export was stopped by a signal; exits with 128 + the signal's number, as a shell
    reports a process killed by it."""

    def __init__(self, signum: int) -> None:
        self.signum = signum
        super().__init__(128 + signum)


@contextlib.contextmanager
def open_output(path: str | None, notice: Notice | None = None) -> Iterator[BinaryIO]:
    """Yield a binary stream for `path`; '-' or None is stdout.

    Everything that can be checked about the destination is checked here, before the caller
    reads a row: a directory, a missing or read-only directory, a socket are refused
    (OutputError). A symlink's target is written (atomically, beside the target); a FIFO or
    device is written in place; a regular file is replaced atomically with mode 0600 (or the
    existing file's mode, when narrower). SIGTERM and SIGHUP stop the export (Interrupted) and,
    like any failure, remove the temporary file. `notice` hears of stale temporary files removed.
    """
    if path in (None, "-"):
        with _stdout() as out:
            yield out
        return
    target = os.path.realpath(path)  # a symlink's final target, written in its own directory
    try:
        info: os.stat_result | None = os.stat(target)
    except FileNotFoundError:
        info = None
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {exc.strerror}") from None
    if info is not None and stat.S_ISDIR(info.st_mode):
        raise OutputError(f"cannot write {path}: it is a directory")
    if info is not None and not stat.S_ISREG(info.st_mode):
        with _in_place(path, target) as out:
            yield out
        return
    with _atomic(path, target, info, notice) as out:
        yield out


# A pipe between an export and an import (dumpstream | loadstream, or through ssh) holds this
# much: Linux's default maximum for an unprivileged process, 16 times its default of 64 KiB.
# The import reads in bursts (a batch, then its insert, while the export's next rows wait):
# with 64 KiB the export blocks a few hundred rows into each insert; with 1 MiB it goes on
# compressing several batches ahead (docs/PERFORMANCE.md, "The pipe"). Kernel memory, not RSS.
PIPE_BYTES = 1 << 20


def widen_pipe(stream: BinaryIO) -> None:
    """Grow the pipe `stream` writes to or reads from to PIPE_BYTES, where it is a pipe that
    holds less and the system allows it (otherwise nothing changes)."""
    try:
        fd = stream.fileno()
    except (OSError, AttributeError, ValueError):  # no file descriptor
        return
    widen_pipe_fd(fd)


def widen_pipe_fd(fd: int) -> None:
    """widen_pipe() of a file descriptor."""
    try:
        if not stat.S_ISFIFO(os.fstat(fd).st_mode):
            return
        if fcntl.fcntl(fd, fcntl.F_GETPIPE_SZ) < PIPE_BYTES:
            fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, PIPE_BYTES)
    except (OSError, AttributeError, ValueError):  # not Linux, a limit lower than ours
        pass


@contextlib.contextmanager
def _stdout() -> Iterator[BinaryIO]:
    out = sys.stdout.buffer
    if out.isatty():
        raise OutputError(
            "refusing to write compressed data to a terminal: use -o PATH or redirect stdout"
        )
    widen_pipe(out)
    try:
        yield out
        out.flush()
    except KeyboardInterrupt:
        # What is still buffered goes nowhere: flushing it at exit could block on a pipe whose
        # reader is not reading, or fail on one it closed.
        silence_stdout()
        raise
    except BrokenPipeError:
        silence_stdout()
        raise OutputError("the reader of stdout closed the pipe before the export ended") from None
    except OSError as exc:
        if exc.errno != errno.ENOSPC:
            raise
        silence_stdout()
        raise OutputError("no space left on device while writing stdout") from None


def _write_error(path: str, exc: OSError) -> OutputError:
    if exc.errno == errno.ENOSPC:
        return OutputError(f"no space left on device while writing {path}")
    if exc.errno == errno.EPIPE:
        return OutputError(f"the reader of {path} went away before the export ended")
    return OutputError(f"cannot write {path}: {exc.strerror or exc}")


@contextlib.contextmanager
def _in_place(path: str, target: str) -> Iterator[BinaryIO]:
    """A FIFO, a character or block device: opened and written as it is, never replaced.

    Opening a FIFO waits for its reader, as any writer to a FIFO does.
    """
    try:
        fd = os.open(target, os.O_WRONLY | os.O_CLOEXEC)
    except OSError as exc:
        if exc.errno == errno.ENXIO:  # a socket, or a FIFO opened non-blocking
            raise OutputError(f"cannot write {path}: not a file, FIFO or device") from None
        raise OutputError(f"cannot write {path}: {exc.strerror}") from None
    try:
        with os.fdopen(fd, "wb") as out, _stop_on_signals():
            yield out
            out.flush()
    except OSError as exc:
        raise _write_error(path, exc) from None


@contextlib.contextmanager
def _atomic(
    path: str, target: str, existing: os.stat_result | None, notice: Notice | None
) -> Iterator[BinaryIO]:
    """A regular file: written to a locked temporary file beside it, renamed when complete."""
    directory, name = os.path.split(target)
    if not os.path.isdir(directory):
        raise OutputError(f"cannot write {path}: directory {directory} does not exist")
    remove_stale(directory, name, notice)
    try:
        fd, temp = tempfile.mkstemp(prefix=f".{name}.", suffix=PARTIAL_SUFFIX, dir=directory)
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {exc.strerror}") from None
    try:
        # Held until the file is renamed or removed: a later export knows this one is alive.
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.fchmod(fd, replacement_mode(existing))
        with os.fdopen(fd, "wb") as out, _stop_on_signals():
            yield out
            out.flush()
            os.fsync(out.fileno())
            os.replace(temp, target)
        _sync_directory(directory)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise _write_error(path, exc) from None
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise


def replacement_mode(existing: os.stat_result | None) -> int:
    """The mode of a new dump file: 0600, or the replaced file's mode when it is narrower."""
    if existing is None:
        return DUMP_MODE
    mode = stat.S_IMODE(existing.st_mode)
    return mode if mode & ~DUMP_MODE == 0 else DUMP_MODE


def remove_stale(directory: str, name: str, notice: Notice | None = None) -> list[str]:
    """Remove the temporary files that killed exports to `name` left in `directory`.

    A temporary file is stale when no process holds its lock: the export that wrote it died
    (SIGKILL, a crash, a power cut). Files of an export still running are left alone. Returns
    the paths removed; `notice` hears of each.
    """
    removed: list[str] = []
    prefix = f".{name}."
    try:
        candidates = [
            entry for entry in os.listdir(directory)
            if entry.startswith(prefix) and entry.endswith(PARTIAL_SUFFIX)
        ]  # fmt: skip
    except OSError:
        return removed
    for entry in candidates:
        stale = os.path.join(directory, entry)
        try:
            fd = os.open(stale, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            continue  # an export to the same path is running
        finally:
            os.close(fd)
        with contextlib.suppress(OSError):
            size = os.path.getsize(stale)
            os.unlink(stale)
            removed.append(stale)
            if notice is not None:
                notice(
                    f"removed {stale} ({size} bytes), the temporary file of an earlier export "
                    "to the same path that was killed before it ended"
                )
    return removed


def _sync_directory(directory: str) -> None:
    # The rename is durable once the directory itself is on disk.
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def _stop_on_signals() -> Iterator[None]:
    """Turn SIGTERM and SIGHUP into Interrupted while the block runs, so the cleanup of the
    enclosing block runs; the previous handlers come back afterwards."""
    try:
        previous = {signum: signal.getsignal(signum) for signum in _STOP_SIGNALS}
        for signum in _STOP_SIGNALS:
            signal.signal(signum, _interrupt)
    except ValueError:  # not the main thread: signals are the main thread's business
        yield
        return
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise Interrupted(signum)


def silence_stdout() -> None:
    """Point stdout at /dev/null after its reader went away, so exit prints no second error."""
    # Python flushes stdout again at exit; after a broken pipe that would print a second error.
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


@contextlib.contextmanager
def open_input(path: str) -> Iterator[BinaryIO]:
    """Yield a binary stream reading `path`; '-' is stdin."""
    if path == "-":
        widen_pipe(sys.stdin.buffer)
        yield sys.stdin.buffer
        return
    try:
        handle = open(path, "rb")  # noqa: SIM115 - closed below
    except FileNotFoundError:
        raise StreamdumpError(f"no such file: {path}") from None
    except IsADirectoryError:
        raise StreamdumpError(f"{path} is a directory, not a dump file") from None
    except OSError as exc:
        raise StreamdumpError(f"cannot read {path}: {exc.strerror}") from None
    with handle:
        yield handle
