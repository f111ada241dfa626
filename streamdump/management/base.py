"""What both management commands share: options validated as Django validates them, the
console (verbosity, styles, Ctrl-C), --events, and errors turned into messages and exit codes.

The commands stay thin: they parse arguments and call the library.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import sys
from collections.abc import Callable, Iterator
from typing import IO, Any, BinaryIO

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections

from streamdump import exitcodes, interrupts
from streamdump.errors import StreamdumpError, UsageError
from streamdump.events import Callback, Events, json_lines

log = logging.getLogger("streamdump")

# zstd's compression levels (zstandard.MAX_COMPRESSION_LEVEL is 22; negative levels are fast).
ZSTD_LEVELS = range(-7, 23)


def positive_int(text: str) -> int:
    """argparse type: an integer of at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is too small: at least 1")
    return value


def zstd_level(text: str) -> int:
    """argparse type: a zstd compression level."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value not in ZSTD_LEVELS:
        raise argparse.ArgumentTypeError(
            f"{value} is out of range: zstd levels go from {ZSTD_LEVELS[0]} to {ZSTD_LEVELS[-1]}"
        )
    return value


def plain(text: str) -> str:
    """Django's OutputWrapper style for messages that are not errors: none."""
    return text


class DatabaseCommand(BaseCommand):
    """Runs the system checks (database checks included) for its --database alone, and gives
    both commands their shared options and behaviour.

    Newer Django runs model checks against every configured alias, which fails when another
    alias points at a server database that does not exist (a staging alias, say).
    """

    requires_system_checks: list[str] = []  # run by execute() below, for one database

    def add_shared_arguments(self, parser: CommandParser, what: str) -> None:
        """-e, --database, --batch-size, --events, --no-progress and --skip-checks."""
        parser.add_argument(
            "-e",
            "--exclude",
            action="append",
            default=[],
            metavar="APP_LABEL[.ModelName]",
            help=f"An app or model to leave out of the {what} (use more than once for more).",
        )
        parser.add_argument(
            "--database",
            default=DEFAULT_DB_ALIAS,
            # Without settings (`streamdump export --help`) the aliases are not known.
            choices=tuple(connections) if settings.configured else None,
            help=f'The database to {what}. Defaults to the "default" database.',
        )
        parser.add_argument(
            "--batch-size",
            type=positive_int,
            default=None,
            metavar="N",
            help="Rows per batch, at least 1 (default: STREAMDUMP['BATCH_SIZE'], 2000).",
        )
        parser.add_argument(
            "--events",
            metavar="PATH|-",
            help="Write what happens as JSON lines to PATH, or '-' for stdout (see "
            "docs/EVENTS.md): start, steps, sections, warnings, summary, error.",
        )
        parser.add_argument(
            "--no-progress", action="store_true", help="Do not show a progress bar on stderr."
        )
        parser.add_argument(
            "--skip-checks", action="store_true", help="Skip Django's system checks."
        )

    def execute(self, *args: Any, **options: Any) -> Any:
        with console_logging(options.get("verbosity", 1), bool(options.get("events"))):
            try:
                interrupts.running()  # from here, Ctrl-C is handled below
                if not options.get("skip_checks"):
                    self.check(databases=[options.get("database") or DEFAULT_DB_ALIAS])
                return super().execute(*args, **options)
            except KeyboardInterrupt as exc:
                message = f"interrupted; {self.interrupted_note(exc)}"
                if interrupts.prepared():  # run as a program: said as Django says it, and exit
                    self.stderr.write(f"CommandError: {message}")
                    interrupts.exit_now()
                raise CommandError(message, returncode=exitcodes.INTERRUPTED) from None
            except DatabaseError as exc:  # e.g. the system checks could not connect
                raise CommandError(
                    f"database {options.get('database')!r}: {exc}", returncode=exitcodes.DATABASE
                ) from exc
            finally:
                interrupts.finished()

    def interrupted_note(self, interrupt: KeyboardInterrupt) -> str:
        """What an interruption left behind, said in one line."""
        return "stopped as asked"

    def say(self, message: str) -> None:
        """A message on stderr that is not an error: in the normal style."""
        self.stderr.write(message, style_func=plain)

    @contextlib.contextmanager
    def events(
        self, target: str | None, command: str, stdout_taken: bool = False
    ) -> Iterator[Callback | None]:
        """The --events callback: JSON lines to a file or to stdout, or None. A failure in the
        block that the library did not report (the input could not be opened, say) is sent as
        an error event too."""
        if not target:
            yield None
            return
        with self._event_lines(target, stdout_taken) as callback:
            try:
                yield callback
            except BaseException as exc:
                Events(callback, command).error_once(exc)
                raise

    @contextlib.contextmanager
    def _event_lines(self, target: str, stdout_taken: bool) -> Iterator[Callback]:
        if target == "-":
            if stdout_taken:
                raise CommandError(
                    "--events -: stdout carries the dump; write the events to a file "
                    "(--events PATH) or the dump to one (-o PATH)",
                    returncode=exitcodes.USAGE,
                )
            yield json_lines(sys.stdout)
            return
        try:
            handle: IO[str] = open(target, "w", encoding="utf-8")  # noqa: SIM115 - closed below
        except OSError as exc:
            raise CommandError(
                f"--events {target}: cannot write it: {exc.strerror}", returncode=exitcodes.USAGE
            ) from None
        with handle:
            yield json_lines(handle)

    def fail(self, error: BaseException, *notes: str) -> CommandError:
        """The CommandError for `error`: its message (and notes), and its exit code."""
        message = "\n".join([str(error), *notes])
        return CommandError(message, returncode=exitcodes.exit_code(error))


@contextlib.contextmanager
def input_stream(path: str) -> Iterator[BinaryIO]:
    """files.open_input, whose refusals (no such file, ...) are InputErrors: bad input."""
    from streamdump.errors import InputError
    from streamdump.files import open_input

    with contextlib.ExitStack() as stack:
        try:
            stream = stack.enter_context(open_input(path))
        except StreamdumpError as exc:
            raise InputError(str(exc)) from None
        yield stream


def errors_to_exit_codes(handle: Callable[..., None]) -> Callable[..., None]:
    """Decorator for handle(): streamdump's and the database's errors become CommandErrors with
    their exit codes; anything else is a bug and keeps its traceback."""

    def wrapped(self: DatabaseCommand, *args: Any, **options: Any) -> None:
        from django.db import Error as DatabaseError

        try:
            handle(self, *args, **options)
        except (StreamdumpError, DatabaseError) as exc:
            raise self.fail(exc) from exc

    wrapped.__doc__ = handle.__doc__
    return wrapped


class _AtLeast(logging.Filter):
    def __init__(self, level: int) -> None:
        super().__init__()
        self.level = level

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= self.level


@contextlib.contextmanager
def console_logging(verbosity: int, keep_warnings: bool) -> Iterator[None]:
    """-v governs the streamdump logger while the command runs: 0 errors only, 1 as the
    project's LOGGING configures it, 2 the same (the commands add per-section lines), 3 debug.

    With `keep_warnings` (--events), warnings still reach the events at -v 0; only the console
    stops showing them.
    """
    saved_level, saved_propagate = log.level, log.propagate
    added: list[logging.Handler] = []
    quiet = _AtLeast(logging.ERROR)
    filtered = list(log.handlers) if verbosity == 0 else []
    if verbosity == 0:
        log.setLevel(logging.WARNING if keep_warnings else logging.ERROR)
        for handler in filtered:
            handler.addFilter(quiet)
        if keep_warnings:  # no warning may reach the root's handlers or the last resort
            log.propagate = False
            errors = logging.StreamHandler(sys.stderr)
            errors.setLevel(logging.ERROR)
            added.append(errors)
    elif verbosity >= 3:
        log.setLevel(logging.DEBUG)
        if not log.hasHandlers():
            added.append(logging.StreamHandler(sys.stderr))
    for handler in added:
        log.addHandler(handler)
    try:
        yield
    finally:
        for handler in added:
            log.removeHandler(handler)
        for handler in filtered:
            handler.removeFilter(quiet)
        log.setLevel(saved_level)
        log.propagate = saved_propagate


def usage(message: str) -> CommandError:
    """A usage error: exit code 2."""
    return CommandError(message, returncode=exitcodes.USAGE)


def grouped(number: int, unit: str = "") -> str:
    """12345678 -> '12,345,678'; with a unit, '1 table', '2 tables'."""
    if not unit:
        return f"{number:,}"
    return f"{number:,} {unit}{'' if number == 1 else 's'}"


def size(count: int) -> str:
    """A byte count for people: '3.2 MB'."""
    value = float(count)
    for unit in ("bytes", "kB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{count:,} bytes" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{count} bytes"  # unreachable


def steps_line(steps: list[tuple[str, float]], every: bool = False) -> str:
    """One compact line of step times: 'preflight 0.1s · remainder 3.2s · 7 other steps 0.1s';
    the steps under 0.05s are counted together unless `every` (-v 2) is asked for."""
    shown = [(name, seconds) for name, seconds in steps if every or seconds >= 0.05]
    parts = [f"{name} {seconds:.1f}s" for name, seconds in shown]
    rest = [seconds for name, seconds in steps if (name, seconds) not in shown]
    if rest:
        what = "other step" if shown else "step"
        parts.append(f"{len(rest)} {what}{'s' if len(rest) > 1 else ''} {sum(rest):.1f}s")
    return " · ".join(parts)


__all__ = ["DatabaseCommand", "UsageError"]
