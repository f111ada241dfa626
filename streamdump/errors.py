"""Exceptions raised by streamdump; each names what is wrong and where."""

from __future__ import annotations


class StreamdumpError(Exception):
    """Base class for every error streamdump raises on purpose."""

    # What a failed import left behind: "unchanged", or "empty" after --clear once the
    # first stage of a plugin import had been committed and had to be undone.
    target_state = "unchanged"


class FormatError(StreamdumpError):
    """The input is not a valid streamdump stream (damaged, truncated or unknown)."""

    def __init__(
        self,
        message: str,
        *,
        line: int | None = None,
        section: str | None = None,
        row: int | None = None,
        column: str | None = None,
    ) -> None:
        self.line, self.section, self.row, self.column = line, section, row, column
        where = []
        if section:
            where.append(f"section {section}")
        if row is not None:
            where.append(f"row {row}")
        if column:
            where.append(f"column {column}")
        if line is not None:
            where.append(f"line {line}")
        super().__init__(f"{message} ({', '.join(where)})" if where else message)


class TruncatedStream(FormatError):
    """The stream ended before its trailer: the file is incomplete."""


class CodecError(StreamdumpError):
    """A value cannot be encoded or decoded exactly."""

    column_index: int | None = None


class SchemaMismatch(StreamdumpError):
    """The stream does not fit the target's installed models or migrations."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__(
            "the dump does not match the target database:\n  - " + "\n  - ".join(problems)
        )


class TargetNotEmpty(StreamdumpError):
    """The target database already holds rows and --clear was not given."""


class OutputError(StreamdumpError):
    """The export could not be written (disk full, broken pipe, terminal)."""
