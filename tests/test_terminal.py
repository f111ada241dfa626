"""What a user sees at a terminal, under a real pseudo-terminal: the bar and log lines, the
summary's style, verbosity, and Ctrl-C (issue 13)."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import pty
import re
import signal
import struct
import subprocess
import sys
import termios
import time

import pytest

from streamdump import exitcodes
from streamdump.files import PIPE_BYTES

from .helpers import MANAGE, digests, example_env, manage, migrated_sqlite

# Its subject does not depend on Django's version (a pseudo-terminal, the bar, Ctrl-C: the OS
# and progress.py): `make compat` leaves it out, it runs in the main venv. Ctrl-C lands at
# moments the tests choose: they run alone, in make test's serial pass.
pytestmark = [pytest.mark.version_independent, pytest.mark.serial]

RED = "\x1b[31;1m"


@pytest.fixture(scope="module")
def dump(source, tmp_path_factory):
    """The session's 4,000-row source, dumped once."""
    env, expected = source
    path = tmp_path_factory.mktemp("terminal") / "source.ndjson.zst"
    manage("dumpstream", "-o", str(path), env=env)
    return path, expected


@pytest.fixture
def target(sqlite_template, tmp_path):
    return example_env("sqlite", migrated_sqlite(sqlite_template, tmp_path / "target.sqlite3"))


def run_on_a_terminal(args: list[str], env: dict[str, str], **kwargs) -> tuple[int, str]:
    """Run a command with stdout and stderr on one pseudo-terminal; return its status and
    everything it wrote there, as a terminal would receive it."""
    leader, follower = pty.openpty()
    # A terminal 100 columns wide (a new pseudo-terminal has no size: tqdm would draw nothing).
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 100, 0, 0))
    process = subprocess.Popen(args, env={**env, "TERM": "xterm"},
                               stdout=follower, stderr=follower, **kwargs)  # fmt: skip
    os.close(follower)
    received = b""
    while True:
        try:
            data = os.read(leader, 65536)
        except OSError:  # EIO: the process closed the terminal
            break
        if not data:
            break
        received += data
    os.close(leader)
    return process.wait(), received.decode(errors="replace")


def test_log_lines_never_tear_the_bar_and_the_bar_shows_every_step(dump, target):
    path, expected = dump
    status, screen = run_on_a_terminal(
        [sys.executable, str(MANAGE), "loadstream", str(path), "--batch-size", "100"], target
    )
    assert status == 0, screen
    assert digests(target) == expected
    pieces = re.split(r"[\r\n]", screen)
    log_lines = [p for p in pieces if "INFO streamdump:" in p]
    assert len(log_lines) >= 10  # the example project logs every step at INFO
    # Each log line starts where a line starts: never after the bar's text on the same line.
    torn = [p for p in log_lines if not re.match(r"(\x1b\[[0-9;]*[A-Za-z])*\s*\d{4}-\d\d-\d\d ", p)]
    assert torn == []
    bars = [p for p in pieces if "rows/s" in p or "| " in p]
    assert bars, "no progress bar was drawn"
    for step in ("preflight", "migrate", "remainder", "verify"):
        assert f"import: {step}" in screen, step


def test_summaries_are_not_in_the_error_style(dump, target, tmp_path):
    path, _ = dump
    status, screen = run_on_a_terminal(
        [sys.executable, str(MANAGE), "loadstream", str(path), "-v2"], target
    )
    assert status == 0, screen
    summary = next(line for line in screen.splitlines() if "Imported 4," in line)
    assert RED not in summary
    assert re.search(r"Imported 4,\d{3} rows into \d+ tables in [\d.]+s: journal check [\d.]+s · "
                     r"preflight [\d.]+s · refusal [\d.]+s · "
                     r"migrate [\d.]+s · .* · verify [\d.]+s\.", summary)  # fmt: skip
    assert re.search(r"inventory\.Part +[0-9,]+ rows", screen)  # per section at -v 2
    # The same terminal does show errors in the error style.
    status, screen = run_on_a_terminal(
        [sys.executable, str(MANAGE), "loadstream", str(path)], target
    )
    assert status == exitcodes.REFUSED and RED + "CommandError" in screen


def test_verbosity_governs_the_streamdump_logger(dump, target, tmp_path):
    path, _ = dump
    quiet = manage("loadstream", str(path), "-v0", env=target)
    assert quiet.stderr == b""  # the example project logs INFO: -v 0 leaves errors only
    out = tmp_path / "again.ndjson.zst"
    quiet = manage("dumpstream", "-o", str(out), "-v0", env=target)
    assert quiet.stderr == b"" and out.exists()
    debug = manage("dumpstream", "-o", str(out), "-v3", env=target)
    assert b"DEBUG streamdump: exporting inventory.Part" in debug.stderr


def wait_for(path, text: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and text in path.read_text():
            return
        time.sleep(0.05)
    raise AssertionError(f"{text!r} never appeared in {path}")


def test_ctrl_c_during_an_import_is_one_line_and_exit_130(dump, target, tmp_path):
    path, _ = dump
    before = digests(target)
    fifo, events = tmp_path / "input", tmp_path / "events.jsonl"
    os.mkfifo(fifo)
    process = subprocess.Popen(
        [sys.executable, str(MANAGE), "loadstream", str(fifo), "-v0", "--events", str(events)],
        env={**target, "PYTHONFAULTHANDLER": "1"}, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    data = path.read_bytes()
    with open(fifo, "wb") as writer:  # half the dump, then the import waits for more
        writer.write(data[: len(data) // 2])
        writer.flush()
        wait_for(events, '"step": "remainder"')
        process.send_signal(signal.SIGINT)
        try:
            stdout, stderr = process.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            process.send_signal(signal.SIGABRT)
            stdout, stderr = process.communicate(timeout=15)
            raise AssertionError(stderr.decode()[-5000:]) from None
    assert process.returncode == exitcodes.INTERRUPTED
    assert stderr.decode().splitlines() == [
        "CommandError: interrupted; nothing was imported; the database is unchanged."
    ]
    last = json.loads(events.read_text().splitlines()[-1])
    assert last["event"] == "error" and last["kind"] == "interrupted"
    assert last["exit_code"] == 130
    assert digests(target) == before


def full_pipe() -> tuple[int, int]:
    """A pipe of files.PIPE_BYTES already full, as the exporter's widened pipe is once its reader
    stops reading: the export blocks on its first write, however small the database."""
    reader, writer = os.pipe()
    fcntl.fcntl(writer, fcntl.F_SETPIPE_SZ, PIPE_BYTES)
    os.set_blocking(writer, False)
    with contextlib.suppress(BlockingIOError):
        while True:
            os.write(writer, bytes(65536))
    os.set_blocking(writer, True)
    return reader, writer


def test_ctrl_c_during_an_export_to_a_pipe(source, tmp_path):
    env, _ = source
    events = tmp_path / "events.jsonl"
    reader, writer = full_pipe()
    try:
        process = subprocess.Popen(
            [sys.executable, str(MANAGE), "dumpstream", "-v0", "--batch-size", "50",
             "--events", str(events)],
            env=env, stdout=writer, stderr=subprocess.PIPE,
        )  # fmt: skip
    finally:
        os.close(writer)
    try:
        wait_for(events, '"event": "section"')  # the pipe is full: nobody reads it
        process.send_signal(signal.SIGINT)
        # It must stop without writing more: the pipe is still open and still full.
        assert process.wait(timeout=60) == exitcodes.INTERRUPTED
    finally:
        process.kill()
        os.close(reader)
    stderr = process.stderr.read()
    assert stderr.decode().splitlines() == [
        "CommandError: interrupted; the stream on stdout is incomplete"
    ]


def test_ctrl_c_in_the_console_script(tmp_path):
    fifo = tmp_path / "input"
    os.mkfifo(fifo)
    process = subprocess.Popen([sys.executable, "-m", "streamdump", "inspect", str(fifo)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
    with open(fifo, "wb") as writer:
        writer.write(b'{"type": "header", ')
        writer.flush()
        time.sleep(0.5)
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=30)
    assert process.returncode == exitcodes.INTERRUPTED
    assert stderr.decode().splitlines() == ["streamdump: interrupted"]


# What `python -v` writes on stderr: the imports (each once it has run), clean-up, site set-up.
_VERBOSE = ("import ", "# ", "Processing ", "Adding directory", "Python ", 'Type "help"')


def _interrupted_at(args: list[str], env: dict[str, str], marker: str, delay: float, **kwargs):
    """Start a command with python -v, wait for the import of `marker` (a module imported
    after streamdump's handler is set), then SIGINT after `delay`; return (code, stderr lines
    other than -v's)."""
    process = subprocess.Popen(
        [sys.executable, "-v", *args],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, **kwargs,
    )  # fmt: skip
    assert process.stderr is not None
    lines = []
    for raw in process.stderr:
        line = raw.decode(errors="replace").rstrip("\n")
        if line.startswith(f"import {marker!r} #"):
            break
        lines.append(line)
    time.sleep(delay)
    process.send_signal(signal.SIGINT)
    rest = process.stderr.read().decode(errors="replace").splitlines()
    process.wait(timeout=60)
    said = []
    for line in lines + rest:
        # A -v line cut by the interruption (between its text and its newline) runs on into
        # the command's message.
        message = re.search(r"(CommandError|streamdump): interrupted.*", line)
        if message:
            said.append(message.group(0))
        elif not line.startswith(_VERBOSE):
            said.append(line)
    return process.returncode, said


# From streamdump's AppConfig (made before the next app, "common", is imported) to the end of
# the import; and in the console script, from its first module to the end.
_STARTS = {
    "manage.py": (["loadstream", "-c", "-v0"], "common"),
    "console script": (["-m", "streamdump", "import", "-c", "-v0"], "streamdump.cli"),
}


@pytest.mark.parametrize("how", sorted(_STARTS))
def test_ctrl_c_at_any_moment_of_start_up_is_one_line_and_exit_130(dump, target, how):
    """SIGINT at several moments of the start of an import (Django's set-up, the command's
    own imports, its checks, then the import itself): one line, exit code 130, no traceback.
    Before Python reaches streamdump's first module, no code of ours can (interrupts.py)."""
    path, _ = dump
    args, marker = _STARTS[how]
    if how == "manage.py":
        command = [str(MANAGE), args[0], str(path), *args[1:]]
        env, cwd = target, None
    else:
        command = [*args[:3], str(path), *args[3:], "--settings", "example_project.settings"]
        env, cwd = target, str(MANAGE.parent)
    before = digests(target)
    while_starting = 0
    for delay in (0, 0.01, 0.03, 0.1, 0.2, 0.4, 0.7, 1.0, 1.5):
        code, said = _interrupted_at(command, env, marker, delay, cwd=cwd)
        assert not any("Traceback" in line for line in said), "\n".join(said)
        if code == exitcodes.OK and not said:  # the import was over before the signal
            continue
        assert code == exitcodes.INTERRUPTED, (delay, code, said)
        assert len(said) == 1 and "interrupted" in said[0], said
        while_starting += "while starting" in said[0] or said[0] == "streamdump: interrupted"
        assert digests(target) == before or code == exitcodes.OK
    assert while_starting, "no signal landed during the start-up"
