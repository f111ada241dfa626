"""Exceptions raised by streamdump; each names what is wrong and where."""

from __future__ import annotations


class StreamdumpError(Exception):
    """Base class for every error streamdump raises on purpose."""


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
        self.message = message  # without the place (a worker process sends it: decodeworker.py)
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
    row_offset: int | None = None  # the row's position in its batch, when a batch is formatted


class SchemaMismatch(StreamdumpError):
    """The stream does not fit the target's installed models or migrations."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__(
            "the dump does not match the target database:\n  - " + "\n  - ".join(problems)
        )


class TargetNotEmpty(StreamdumpError):
    """The target database already holds rows and --clear was not given."""


class InterruptedImport(StreamdumpError):
    """The target holds the journal of an import that began changing it and did not finish."""


class InputError(StreamdumpError):
    """The input could not be opened or read (no such file, a directory, no permission)."""


class DanglingReference(StreamdumpError):
    """Imported rows refer to rows that do not exist: the dump is not consistent."""


class MissingReferences(StreamdumpError):
    """Rows of a partial import refer to rows that are neither imported nor in the target."""


class UsageError(StreamdumpError):
    """An option, label or value the user gave cannot be used (exit code 2)."""


class OutputError(StreamdumpError):
    """The export could not be written (disk full, broken pipe, terminal)."""


class ImportFailed(StreamdumpError):
    """An import failed, whatever the error; `target_state` says what it left in the target.

    Raised from the original error (``__cause__``, also ``error``), whose message it repeats.
    """

    UNCHANGED = "unchanged"  # rolled back, or refused before any write: as it was before
    RESTORED = "restored"  # committed stages were put back from the journal: as it was before
    # Putting the target back from the journal failed too: the journal stays in the target,
    # every later import refuses it, and `loadstream --recover` tries again.
    RECOVERY_NEEDED = "recovery needed"
    # The database committed the import, then moving its media files into place failed:
    # the rows are in, the files not yet placed are removed (media.py).
    MEDIA_INCOMPLETE = "media incomplete"
    # Interrupted after the database committed the whole import (restarting the numbering of
    # the tables --clear emptied, on MariaDB): the rows are in.
    COMMITTED = "committed"

    def __init__(self, error: BaseException, target_state: str) -> None:
        self.error, self.target_state = error, target_state
        super().__init__(str(error))

    @property
    def unchanged(self) -> bool:
        """Whether the target holds what it held before the import."""
        return self.target_state in (self.UNCHANGED, self.RESTORED)
