"""The `streamdump` console script: export, import, inspect, cat, convert, digest (no manage.py).

Each subcommand is one entry of SUBCOMMANDS: a function adding its arguments and one running
it (returning the exit code, exitcodes.py). `export` and `import` are the management commands
themselves, run as from manage.py, so that their options, help and messages are the same.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass

from . import __version__, exitcodes, interrupts
from .framing import DEFAULT_MAX_LINE

PROG = "streamdump"
if os.path.basename(sys.argv[0]) == PROG:  # the console script: until main() runs
    interrupts.quiet_start(f"{PROG}: interrupted")


@dataclass(frozen=True)
class Subcommand:
    """One subcommand: its help line, its arguments, and what runs it."""

    help: str
    arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace, list[str]], int]
    django: bool = True  # takes --settings and --pythonpath
    passthrough: bool = False  # its arguments are a management command's, parsed there


class SettingsError(Exception):
    """The Django settings cannot be found or imported."""


def _setup_django(settings: str | None, pythonpath: str | None, watch: bool = False) -> None:
    # Like manage.py, find the project's settings from the current directory.
    sys.path.insert(0, os.getcwd())
    if pythonpath:
        sys.path.insert(0, pythonpath)
    if settings:
        os.environ["DJANGO_SETTINGS_MODULE"] = settings
    module = os.environ.get("DJANGO_SETTINGS_MODULE")
    if not module:
        raise SettingsError("give --settings or set DJANGO_SETTINGS_MODULE")
    import django
    from django.core.exceptions import ImproperlyConfigured

    try:
        if watch:  # before any app's ready() runs, wherever streamdump is in INSTALLED_APPS
            from .watch import watch_writes

            watch_writes()
        django.setup()
    except ImportError as exc:
        raise SettingsError(f"cannot import the settings module {module!r}: {exc}") from None
    except ImproperlyConfigured as exc:
        raise SettingsError(f"the settings module {module!r}: {exc}") from None


# --- export and import: the management commands -------------------------------------------

_COMMANDS = {"export": "dumpstream", "import": "loadstream"}


def _management_command(name: str) -> Callable[[argparse.Namespace, list[str]], int]:
    def run(args: argparse.Namespace, rest: list[str]) -> int:
        helping = bool({"-h", "--help"} & set(rest))
        if not (helping and not (args.settings or os.environ.get("DJANGO_SETTINGS_MODULE"))):
            _setup_django(args.settings, args.pythonpath, watch=name == "export")
        from importlib import import_module

        command = import_module(f"streamdump.management.commands.{_COMMANDS[name]}").Command()
        try:
            # As manage.py runs it: argparse errors exit 2, CommandErrors print one message and
            # exit with their code; the usage line reads "streamdump export".
            command.run_from_argv([PROG, name, *rest])
        except SystemExit as exc:
            return exc.code if isinstance(exc.code, int) else exitcodes.FAILED
        return exitcodes.OK

    return run


# --- inspect, cat, digest ------------------------------------------------------------------


def _inspect_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("path", help="The dump file, or '-' for standard input.")
    parser.add_argument("--json", action="store_true", help="Print the report as JSON.")
    parser.add_argument(
        "--max-line-bytes",
        type=int,
        default=DEFAULT_MAX_LINE,
        help=f"Refuse a longer line, as the import does (default {DEFAULT_MAX_LINE}, as "
        "STREAMDUMP['MAX_LINE_BYTES']).",
    )


def _inspect(args: argparse.Namespace, rest: list[str]) -> int:
    from .errors import StreamdumpError
    from .files import open_input, silence_stdout
    from .inspection import format_report, inspect_stream

    try:
        with open_input(args.path) as stream:
            report = inspect_stream(stream, args.max_line_bytes)
    except StreamdumpError as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 2
    if args.json:
        fields = {"intact": report.intact, "kind": report.kind, "error": report.error,
                  "file_bytes": report.file_bytes, "data_bytes": report.data_bytes,
                  "ratio": report.ratio, "header": report.header,
                  "sections": report.sections, "media": report.media}  # fmt: skip
        text = json.dumps(fields, indent=2)
    else:
        text = format_report(report)
    try:
        print(text, flush=True)
    except BrokenPipeError:  # `streamdump inspect x | head`: the verdict still sets the status
        silence_stdout()
    return 0 if report.intact else 1


def _convert_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("input", help="The fixture, or '-' for standard input.")
    parser.add_argument("output", help="The stream to write, or '-' for standard output.")
    parser.add_argument(
        "--ignore-missing",
        action="store_true",
        help="Leave out records of models that are not installed instead of refusing.",
    )


def _convert(args: argparse.Namespace, rest: list[str]) -> int:
    _setup_django(args.settings, args.pythonpath)
    from .conf import get_config
    from .errors import StreamdumpError
    from .files import open_input, open_output
    from .fixturestream import convert

    try:
        with open_input(args.input) as stream, open_output(args.output) as out:
            records = convert(stream, out, get_config(), ignore_missing=args.ignore_missing)
    except StreamdumpError as exc:
        print(f"{PROG} convert: {exc}", file=sys.stderr)
        return exitcodes.exit_code(exc)
    print(f"converted {records} records", file=sys.stderr)
    return exitcodes.OK


def _cat_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("path", help="The dump file, or '-' for standard input.")
    parser.add_argument(
        "labels",
        metavar="app_label[.ModelName]",
        nargs="*",
        help="The apps and models whose rows to write (default: every one).",
    )
    parser.add_argument(
        "--files",
        action="store_true",
        help="List the dump's media files instead (name, size, digest; each one verified).",
    )


def _cat(args: argparse.Namespace, rest: list[str]) -> int:
    from .errors import StreamdumpError, UsageError
    from .files import open_input, silence_stdout
    from .tablerows import media_listing, table_rows

    out = sys.stdout.buffer
    try:
        if args.files and args.labels:
            raise UsageError("--files lists the media files: give no app or model with it")
        with open_input(args.path) as stream:
            lines = media_listing(stream) if args.files else table_rows(stream, tuple(args.labels))
            for line in lines:
                out.write(line)
        out.flush()
    except BrokenPipeError:  # `streamdump cat x | head`
        silence_stdout()
        return exitcodes.OK
    except StreamdumpError as exc:  # a label it does not hold, or an unreadable input
        print(f"{PROG} cat: {exc}", file=sys.stderr)
        code = exitcodes.exit_code(exc)
        return exitcodes.BAD_INPUT if code == exitcodes.FAILED else code
    return exitcodes.OK


def _digest_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--database", default="default", help="The database alias.")
    parser.add_argument(
        "--ignore",
        action="append",
        default=[],
        metavar="APP_LABEL.MODEL.FIELD",
        help="Leave this field out of the comparison (repeatable), e.g. a timestamp the "
        "application writes at start-up.",
    )


def _digest(args: argparse.Namespace, rest: list[str]) -> int:
    # Watched like an export: an application that writes when a process starts would otherwise
    # change the database this comparison is about without a word.
    _setup_django(args.settings, args.pythonpath, watch=True)
    from django.db import connections

    from .digest import UnknownField, database_digests
    from .watch import writes_seen

    if args.database not in connections:
        print(
            f"streamdump digest: --database: invalid choice {args.database!r} (choose from "
            f"{', '.join(repr(alias) for alias in connections)})",
            file=sys.stderr,
        )
        return exitcodes.USAGE
    try:
        digests = database_digests(args.database, ignore=tuple(args.ignore))
    except UnknownField as exc:
        print(f"streamdump digest: --ignore: {exc}", file=sys.stderr)
        return exitcodes.USAGE
    writes = writes_seen(args.database)
    if writes:
        tables = ", ".join(f"{table} ({rows})" for table, rows in writes.items())
        print(
            "streamdump digest: warning: the application wrote to this database while this "
            f"process started, before the digest read it (rows per table): {tables}. The "
            "digest is of the database with those changes.",
            file=sys.stderr,
        )
    print(json.dumps({label: list(v) for label, v in digests.items()}, indent=1))
    return exitcodes.OK


def _no_arguments(parser: argparse.ArgumentParser) -> None:
    pass


SUBCOMMANDS: dict[str, Subcommand] = {
    "export": Subcommand(
        "Export the database (as manage.py dumpstream; `streamdump export -h`).",
        _no_arguments,
        _management_command("export"),
        passthrough=True,
    ),
    "import": Subcommand(
        "Import a dump (as manage.py loadstream; `streamdump import -h`).",
        _no_arguments,
        _management_command("import"),
        passthrough=True,
    ),
    "inspect": Subcommand(
        "Show a dump's header, sections, size and compression, and verify it; no database.",
        _inspect_arguments,
        _inspect,
        django=False,
    ),
    "cat": Subcommand(
        "Write a dump's rows as JSON objects keyed by column, one per line; no database.",
        _cat_arguments,
        _cat,
        django=False,
    ),
    "convert": Subcommand(
        "Write a Django fixture (dumpdata JSON or JSON lines, compressed or not) as a "
        "streamdump stream; needs the project's settings, not its database.",
        _convert_arguments,
        _convert,
    ),
    "digest": Subcommand(
        "Print row count and content digest per table, to compare two databases.",
        _digest_arguments,
        _digest,
    ),
}


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the console script."""
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Export and import a whole Django database as zstd-compressed NDJSON. "
        f"Exit codes: {exitcodes.SUMMARY}.",
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    django_opts = argparse.ArgumentParser(add_help=False)
    django_opts.add_argument(
        "--settings", help="Django settings module (else DJANGO_SETTINGS_MODULE)."
    )
    django_opts.add_argument("--pythonpath", help="A directory to add to the Python path.")
    for name, subcommand in SUBCOMMANDS.items():
        child = sub.add_parser(
            name,
            prog=f"{PROG} {name}",
            parents=[django_opts] if subcommand.django else [],
            add_help=not subcommand.passthrough,  # -h goes to the management command
            help=subcommand.help,
            description=subcommand.help,
        )
        subcommand.arguments(child)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script and of `python -m streamdump`."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    try:
        interrupts.running()  # from here, Ctrl-C is handled below (or by the command)
        if argv and argv[0] in SUBCOMMANDS and SUBCOMMANDS[argv[0]].passthrough:
            args, rest = parser.parse_known_args(argv)
            # --settings and --pythonpath are the management command's too: pass them on.
            rest = argv[1:]
        else:
            args, rest = parser.parse_args(argv), []
        return SUBCOMMANDS[args.command].run(args, rest)
    except SettingsError as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return exitcodes.USAGE
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        if interrupts.prepared():  # the console script: exits here
            interrupts.exit_now()
        return exitcodes.INTERRUPTED
