"""Progress bars on stderr, shown only when it is a terminal."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from typing import Any

from tqdm import tqdm


@contextlib.contextmanager
def progress_bar(total: int, label: str, enabled: bool) -> Iterator[Any]:
    """A tqdm bar counting rows, or a silent stand-in when disabled."""
    with tqdm(
        total=total,
        desc=label,
        unit=" rows",
        unit_scale=True,
        file=sys.stderr,
        disable=not enabled,
        dynamic_ncols=True,
    ) as bar:
        yield bar
