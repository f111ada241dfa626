"""Hand an importer the stream's sections phase by phase, in one pass.

The writer emits phases in order, so a piped stream needs nothing more. A section that arrives
before its phase (a stream written in another order) is spooled to a compressed temporary file
and replayed when its phase comes: memory stays bounded either way.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterator

from .errors import FormatError
from .reader import Section, StreamReader
from .tables import PHASES
from .tempstream import TempStream

log = logging.getLogger("streamdump")


class PhaseRouter:
    """Yields sections of one phase at a time, whatever order the stream holds them in."""

    def __init__(self, reader: StreamReader, phase_of: Callable[[str], str]) -> None:
        self.reader = reader
        self.phase_of = phase_of
        self._sections = reader.sections()
        self._remaining = Counter(phase_of(t["model"]) for t in reader.header.get("tables") or [])
        self._spools: dict[str, TempStream] = {}
        self._done: set[str] = set()

    def sections(self, phase: str) -> Iterator[Section]:
        """Every section of `phase`: first those spooled earlier, then from the stream."""
        spool = self._spools.pop(phase, None)
        if spool is not None:
            try:
                yield from spool.reader(self.reader.batch_size, self.reader.batch_bytes).sections()
            finally:
                spool.close()
        while self._remaining[phase] > 0:
            section = next(self._sections, None)
            if section is None:
                raise FormatError(f"the stream ended before every {phase} section was read")
            own = self.phase_of(section.model)
            self._remaining[own] -= 1
            if own == phase:
                yield section
            elif own in self._done or PHASES.index(own) < PHASES.index(phase):
                raise FormatError(f"section {section.model} of phase {own} arrived too late")
            else:
                log.info("spooling %s: it arrived before the %s phase", section.model, own)
                self._spool(own).add(self._describe(section), (r for _, r in section.batches()))
        self._done.add(phase)

    def finish(self) -> None:
        """Read to the end of the stream, verifying its trailer."""
        for section in self._sections:
            raise FormatError(f"section {section.model} is not listed in the header")
        for spool in self._spools.values():
            spool.close()

    def _spool(self, phase: str) -> TempStream:
        if phase not in self._spools:
            self._spools[phase] = TempStream(f"spool-{phase}")
        return self._spools[phase]

    @staticmethod
    def _describe(section: Section) -> dict:
        return {
            "model": section.model,
            "table": section.table,
            "phase": section.phase,
            "columns": [list(pair) for pair in zip(section.columns, section.codecs, strict=True)],
        }
