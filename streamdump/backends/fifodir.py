"""A private temporary directory for one FIFO (LOAD DATA LOCAL INFILE's input, mysql_infile.py),
that a later run removes if the process that made it died without removing it (SIGKILL).

The directory is named ``streamdump-infile-<pid>-<random>`` and holds a ``lock`` file that its
process keeps locked (flock) until it removes the directory. Before making one, a process
removes every such directory of its user in the same temporary directory whose pid is not alive
and whose lock nobody holds (the kernel lets go of a dead process's locks; the lock covers a
process of another pid namespace sharing the directory). A directory of another user, or of a
live process, is never touched; one whose pid was reused stays until that process ends.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import tempfile

PREFIX = "streamdump-infile-"
_LOCK = "lock"
_SWEPT: set[str] = set()  # the temporary directories this process has swept


class FifoDir:
    """The directory and the FIFO in it, locked while it exists; remove() ends both."""

    def __init__(self, name: str) -> None:
        parent = tempfile.gettempdir()
        if parent not in _SWEPT:  # once per process: an import makes one per table
            _SWEPT.add(parent)
            remove_stale(parent)
        self.path = tempfile.mkdtemp(prefix=f"{PREFIX}{os.getpid()}-", dir=parent)
        self._lock: int | None = None
        try:
            self._lock = os.open(
                os.path.join(self.path, _LOCK), os.O_CREAT | os.O_RDWR | os.O_CLOEXEC, 0o600
            )
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)  # new: nobody holds it
            self.fifo = os.path.join(self.path, name)
            os.mkfifo(self.fifo, 0o600)
        except BaseException:
            shutil.rmtree(self.path, ignore_errors=True)
            if self._lock is not None:
                os.close(self._lock)
            raise

    def remove(self) -> None:
        """Remove the directory, then let go of its lock (repeatable)."""
        if self._lock is None:
            return
        shutil.rmtree(self.path, ignore_errors=True)
        os.close(self._lock)
        self._lock = None


def remove_stale(directory: str) -> list[str]:
    """Remove the FIFO directories in `directory` that dead processes of this user left;
    return their paths."""
    removed: list[str] = []
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return removed
    for entry in entries:
        if entry.name.startswith(PREFIX) and _stale(entry):
            shutil.rmtree(entry.path, ignore_errors=True)
            removed.append(entry.path)
    return removed


def _stale(entry: os.DirEntry[str]) -> bool:
    """Whether its process is gone: its pid is not alive here, and nobody holds its lock (a
    process in another pid namespace sharing this directory holds it)."""
    pid = entry.name[len(PREFIX) :].split("-", 1)[0]
    try:
        if not entry.is_dir(follow_symlinks=False) or entry.stat().st_uid != os.getuid():
            return False
        if _alive(pid):  # running, in the instant before its lock too, or a reused pid
            return False
        fd = os.open(os.path.join(entry.path, _LOCK), os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:  # its process died before it made its lock
        return True
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:  # held
        return False
    finally:
        os.close(fd)  # and the lock with it
    return True


def _alive(pid: str) -> bool:
    if not pid.isdigit():
        return True  # not a name of ours: left alone
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except OSError:  # another user's process: alive
        return True
    return True


__all__ = ["FifoDir", "remove_stale"]
