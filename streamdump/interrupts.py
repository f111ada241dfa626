"""Ctrl-C while a command of ours starts: one line on stderr and exit code 130, no traceback.

Python turns SIGINT into KeyboardInterrupt wherever the main thread is: while a command starts,
that is inside Django's set-up (importing every app and its models, their ready()) or inside the
import of the command's own module, and the traceback goes to the user. The commands handle it
themselves once they run (DatabaseCommand.execute, cli.main). Until then, a process that is
starting one of them (`manage.py dumpstream|loadstream`, django-admin, the `streamdump` console
script) ends at once, through `os._exit` (nothing has been written yet: no buffer, file or
transaction to finish), after saying so.

What no code of ours can cover: a SIGINT before Python reaches us. Under `manage.py` that is
Python's start, Django's import, the settings, and the apps listed before "streamdump" in
INSTALLED_APPS (the handler is set when Django creates streamdump's AppConfig); under the
console script, Python's start and the import of the `streamdump` package's `__init__`.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from types import FrameType
from typing import NoReturn

INTERRUPTED = 130  # exitcodes.INTERRUPTED, without importing what that module imports
# What each management command says when stopped while starting.
COMMANDS = {
    "dumpstream": "CommandError: interrupted while starting; nothing was exported",
    "loadstream": "CommandError: interrupted while starting; nothing was imported; the "
    "database is unchanged.",
}

_message = b""  # set while starting; also: this process runs a command of ours


def starting_command() -> str | None:
    """The management command of ours this process runs (manage.py or django-admin), if any."""
    name = sys.argv[1] if len(sys.argv) > 1 else ""
    return name if name in COMMANDS else None


def quiet_start(message: str) -> None:
    """Until running(), a SIGINT ends the process with `message` on stderr and exit code 130.

    Only from the main thread, and only where SIGINT has Python's own handler (left alone:
    an application's handler, or SIGINT ignored, as in a background job)."""
    global _message
    if threading.current_thread() is not threading.main_thread():
        return
    if signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        return
    _message = message.encode(errors="replace") + b"\n"
    signal.signal(signal.SIGINT, _stop)


def running() -> None:
    """The command runs and handles KeyboardInterrupt itself: Python's handler again."""
    if signal.getsignal(signal.SIGINT) is _stop:
        signal.signal(signal.SIGINT, signal.default_int_handler)


def finished() -> None:
    """The command has ended (its message is decided): in a process that quiet_start prepared,
    a SIGINT while it exits (Django closing connections) is ignored, not a traceback."""
    if _message and threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.SIG_IGN)


def prepared() -> bool:
    """Whether quiet_start prepared this process (it runs a command of ours as a program)."""
    return bool(_message)


def exit_now() -> NoReturn:
    """End the process at once with exit code 130, its output flushed.

    For a KeyboardInterrupt that a command turned into its message: Python ends a process whose
    KeyboardInterrupt was raised inside the import of a module (Django's, as a command starts)
    by sending itself SIGINT as it exits, even when the interruption was caught and the exit
    code chosen; the code would be lost (seen as -2)."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(INTERRUPTED)


def _stop(signum: int, frame: FrameType | None) -> None:
    try:
        os.write(2, _message)
    finally:
        os._exit(INTERRUPTED)
