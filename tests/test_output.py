"""Where an export writes (docs/RELIABILITY.md, "Export"): regular files atomically and owner-only,
FIFOs and devices in place, a symlink's target, refusals before the first row, and no temporary
file left behind by a signal or, after a kill, by the next export.

Every FIFO, device node, symlink and file system here is made in a temporary directory.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
import stat
import subprocess
import sys
import threading
import time

import pytest

from streamdump.errors import OutputError
from streamdump.files import (
    PARTIAL_SUFFIX,
    PIPE_BYTES,
    Interrupted,
    open_output,
    remove_stale,
    widen_pipe,
)

from .dbservers import on_ci
from .helpers import MANAGE, example_env, manage, migrated_sqlite
from .streams import lines_of

# Its subject does not depend on Django's version (where and how files are written, signals:
# the OS and files.py): `make compat` leaves it out, it runs in the main venv. Signals land at
# moments the tests choose: they run alone, in make test's serial pass.
pytestmark = [pytest.mark.version_independent, pytest.mark.serial]


def leftovers(directory) -> list[str]:
    return sorted(name for name in os.listdir(directory) if name.endswith(PARTIAL_SUFFIX))


@contextlib.contextmanager
def umask(mask: int):
    previous = os.umask(mask)
    try:
        yield
    finally:
        os.umask(previous)


# --- regular files: atomic, owner-only -------------------------------------------------------


@pytest.mark.parametrize("mask", [0o000, 0o022, 0o077])
def test_a_new_dump_file_is_owner_only_whatever_the_umask(tmp_path, mask):
    target = tmp_path / "dump.zst"
    with umask(mask), open_output(str(target)) as out:
        out.write(b"data")
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o600
    assert target.read_bytes() == b"data" and leftovers(tmp_path) == []


@pytest.mark.parametrize(("before", "after"), [(0o644, 0o600), (0o666, 0o600), (0o640, 0o600),
                                               (0o600, 0o600), (0o400, 0o400)])  # fmt: skip
def test_replacing_a_file_keeps_its_mode_only_when_narrower(tmp_path, before, after):
    target = tmp_path / "dump.zst"
    target.write_bytes(b"old")
    os.chmod(target, before)
    with umask(0), open_output(str(target)) as out:
        out.write(b"new")
    assert stat.S_IMODE(os.stat(target).st_mode) == after
    assert target.read_bytes() == b"new"


def test_the_temporary_file_is_owner_only_while_written(tmp_path):
    with umask(0), open_output(str(tmp_path / "dump.zst")) as out:
        (temp,) = leftovers(tmp_path)
        assert stat.S_IMODE(os.stat(tmp_path / temp).st_mode) == 0o600
        out.write(b"x")


def test_a_failed_export_leaves_the_old_file_and_no_temporary_file(tmp_path):
    target = tmp_path / "dump.zst"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError), open_output(str(target)) as out:
        out.write(b"half")
        raise RuntimeError("the export failed")
    assert target.read_bytes() == b"old" and leftovers(tmp_path) == []


# --- what is not a regular file --------------------------------------------------------------


def test_a_fifo_is_written_in_place(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    received = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()), daemon=True)
    reader.start()
    with open_output(str(fifo)) as out:
        out.write(b"streamed" * 10000)
    reader.join(10)
    assert received == [b"streamed" * 10000]
    assert stat.S_ISFIFO(os.stat(fifo).st_mode) and leftovers(tmp_path) == []


def test_a_character_device_is_written_in_place_not_replaced(tmp_path):
    null = tmp_path / "null"
    os.mknod(null, 0o666 | stat.S_IFCHR, os.makedev(1, 3))  # like /dev/null, in a temp dir
    os.chmod(null, 0o666)  # whatever the umask
    with open_output(str(null)) as out:
        out.write(b"discarded")
    info = os.stat(null)
    assert stat.S_ISCHR(info.st_mode) and info.st_rdev == os.makedev(1, 3)
    assert stat.S_IMODE(info.st_mode) == 0o666  # a device's mode is not ours to change
    assert leftovers(tmp_path) == []


def test_a_full_device_fails_clearly(tmp_path):
    full = tmp_path / "full"
    os.mknod(full, 0o666 | stat.S_IFCHR, os.makedev(1, 7))  # like /dev/full
    with pytest.raises(OutputError, match="no space left on device"):
        with open_output(str(full)) as out:
            out.write(b"x" * 100_000)
    assert stat.S_ISCHR(os.stat(full).st_mode)


def test_a_symlinks_target_is_written_beside_the_target(tmp_path):
    elsewhere = tmp_path / "backups"
    elsewhere.mkdir()
    real = elsewhere / "real.zst"
    real.write_bytes(b"old")
    link = tmp_path / "latest.zst"
    link.symlink_to(real)
    with open_output(str(link)) as out:
        assert leftovers(elsewhere) and not leftovers(tmp_path)  # beside the target
        out.write(b"new")
    assert link.is_symlink() and os.readlink(link) == str(real)
    assert real.read_bytes() == b"new" and leftovers(elsewhere) == []


def test_a_dangling_symlink_gets_its_target_made(tmp_path):
    link = tmp_path / "latest.zst"
    link.symlink_to(tmp_path / "made.zst")
    with open_output(str(link)) as out:
        out.write(b"new")
    assert link.is_symlink() and (tmp_path / "made.zst").read_bytes() == b"new"


# --- refused before the first row --------------------------------------------------------------


def test_a_directory_is_refused_before_anything_is_written(tmp_path):
    body = []
    with pytest.raises(OutputError, match="is a directory"):
        with open_output(str(tmp_path)):
            body.append("ran")  # the export would read rows here
    assert body == []


def test_a_path_under_a_file_is_refused(tmp_path):
    (tmp_path / "file").write_bytes(b"")
    with pytest.raises(OutputError, match="cannot write"):
        with open_output(str(tmp_path / "file" / "dump.zst")):
            pytest.fail("the block must not run")


@pytest.fixture
def read_only_dir(tmp_path):
    """A read-only tmpfs in a temporary directory (root ignores directory modes). Skipped where
    mounting is refused, but with CI set a failure: CI runs as root, which can mount."""
    mount = tmp_path / "ro"
    mount.mkdir()
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(mount)],
                            capture_output=True, check=False)  # fmt: skip
    if result.returncode != 0:
        problem = f"cannot mount a tmpfs here: {result.stderr.decode().strip()}"
        if on_ci():
            pytest.fail(f"CI is set: {problem}", pytrace=False)
        pytest.skip(f"{problem} (set CI=1 to make this a failure)")
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=False)


def test_an_unwritable_directory_is_refused_before_anything_is_written(read_only_dir):
    with pytest.raises(OutputError, match="Read-only file system"):
        with open_output(str(read_only_dir / "dump.zst")):
            pytest.fail("the block must not run")


# --- signals and stale temporary files ---------------------------------------------------------


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_a_signal_removes_the_temporary_file(tmp_path, signum):
    target = tmp_path / "dump.zst"
    with pytest.raises(Interrupted) as info, open_output(str(target)) as out:
        out.write(b"half")
        os.kill(os.getpid(), signum)
        time.sleep(5)  # the handler interrupts this
    assert info.value.code == 128 + signum
    assert not target.exists() and leftovers(tmp_path) == []
    assert signal.getsignal(signum) is signal.SIG_DFL  # the handlers are given back


def test_a_stale_temporary_file_is_removed_and_a_live_one_kept(tmp_path):
    target = tmp_path / "dump.zst"
    stale = tmp_path / f".dump.zst.abc{PARTIAL_SUFFIX}"
    stale.write_bytes(b"x" * 1000)
    other = tmp_path / f".other.zst.abc{PARTIAL_SUFFIX}"
    other.write_bytes(b"another path's")
    notices = []
    with open_output(str(target), notices.append) as out:
        (live,) = set(leftovers(tmp_path)) - {other.name}
        # A second export to the same path while this one runs leaves this one's file alone.
        assert remove_stale(str(tmp_path), "dump.zst") == []
        out.write(b"new")
    assert not stale.exists() and other.exists() and not (tmp_path / live).exists()
    assert len(notices) == 1 and str(stale) in notices[0] and "killed" in notices[0]


# --- the command, in real processes ----------------------------------------------------------


@pytest.fixture(scope="module")
def example(sqlite_template, tmp_path_factory):
    directory = tmp_path_factory.mktemp("output")
    env = example_env("sqlite", migrated_sqlite(sqlite_template, directory / "db.sqlite3"))
    manage("generate", "--rows", "1500", env=env)
    return env


def slow_export(env, target):
    """dumpstream -o target, slowed down by tiny batches; returns once its temp file exists."""
    process = subprocess.Popen(
        [sys.executable, str(MANAGE), "dumpstream", "-o", str(target), "--batch-size", "1",
         "--compression-level", "19"], env=env, stderr=subprocess.PIPE,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while not leftovers(target.parent):
        assert process.poll() is None, process.stderr.read().decode()
        assert time.monotonic() < deadline
        time.sleep(0.05)
    return process


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT])
def test_a_signalled_export_removes_its_temporary_file(example, tmp_path, signum):
    target = tmp_path / "dump.zst"
    process = slow_export(example, target)
    time.sleep(0.3)
    process.send_signal(signum)
    stderr = process.stderr.read()
    process.wait(30)
    assert os.listdir(tmp_path) == [], os.listdir(tmp_path)
    assert process.returncode == 128 + signum and b"Traceback" not in stderr, stderr.decode()
    assert f"stopped by {signal.Signals(signum).name}".encode() in stderr


def test_the_export_after_a_killed_one_removes_its_temporary_file(example, tmp_path):
    target = tmp_path / "dump.zst"
    process = slow_export(example, target)
    process.kill()
    process.wait(30)
    (stale,) = leftovers(tmp_path)
    result = manage("dumpstream", "-o", str(target), env=example)
    assert os.listdir(tmp_path) == ["dump.zst"]
    assert f"removed {tmp_path / stale}".encode() in result.stderr
    assert lines_of(target.read_bytes())[-1].startswith(b'{"type":"trailer"')


def test_exporting_to_a_directory_fails_before_reading(example, tmp_path):
    result = manage("dumpstream", "-o", str(tmp_path), env=example, check=False)
    assert result.returncode == 1 and b"is a directory" in result.stderr
    assert b"Traceback" not in result.stderr and os.listdir(tmp_path) == []


def _pipe_max() -> int:
    try:
        with open("/proc/sys/fs/pipe-max-size") as f:
            return int(f.read())
    except OSError:
        return 0


@pytest.mark.skipif(
    not hasattr(fcntl, "F_GETPIPE_SZ") or _pipe_max() < PIPE_BYTES,
    reason="pipe sizes are Linux's, up to /proc/sys/fs/pipe-max-size",
)
def test_the_pipe_to_stdout_is_widened(example):
    """dumpstream -o - grows the pipe it writes to (64 KiB by default), so that it can go on
    compressing while the import inserts a batch (docs/PERFORMANCE.md, "The pipe")."""
    read_end, write_end = os.pipe()
    try:
        assert fcntl.fcntl(read_end, fcntl.F_GETPIPE_SZ) < PIPE_BYTES
        process = subprocess.Popen(
            [sys.executable, str(MANAGE), "dumpstream", "-o", "-", "--no-progress"],
            env=example, stdout=write_end, stderr=subprocess.PIPE,
        )  # fmt: skip
        os.close(write_end)
        write_end = -1
        with os.fdopen(read_end, "rb", closefd=False) as stream:
            data = stream.read()
        assert process.wait(60) == 0, process.stderr.read().decode()
        assert fcntl.fcntl(read_end, fcntl.F_GETPIPE_SZ) == PIPE_BYTES
        assert lines_of(data)[-1].startswith(b'{"type":"trailer"')
    finally:
        os.close(read_end)
        if write_end != -1:
            os.close(write_end)


def test_a_file_is_not_a_pipe_to_widen(tmp_path):
    with open(tmp_path / "plain", "wb") as plain:
        widen_pipe(plain)  # nothing to do, nothing raised
        plain.write(b"x")
    assert (tmp_path / "plain").read_bytes() == b"x"
