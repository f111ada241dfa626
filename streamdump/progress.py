"""Progress bars on stderr, shown only on a terminal, and log lines that do not tear them."""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Iterator
from typing import Any


class _Silent:
    """The bar when none is shown: tqdm is not even imported (it costs start-up time)."""

    def update(self, n: int = 1) -> None:
        pass

    def set_description(self, desc: str) -> None:
        pass


def _bar_class() -> Any:
    from tqdm import tqdm

    class _Bar(tqdm):
        # No monitor thread: bars are updated per batch anyway, and an import forks its
        # decoding worker only from a process with one thread (decodeworker.py).
        monitor_interval = 0

    return _Bar


@contextlib.contextmanager
def progress_bar(total: int, label: str, enabled: bool) -> Iterator[Any]:
    """A tqdm bar counting rows, or a silent stand-in when disabled."""
    if not enabled:
        yield _Silent()
        return
    with (
        _bar_class()(
            total=total,
            desc=label,
            unit=" rows",
            unit_scale=True,
            file=sys.stderr,
            dynamic_ncols=True,
        ) as bar,
        logs_above_the_bar(),
    ):
        yield bar


class _AboveTheBar(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes through tqdm, which clears the bar, writes the line and draws the bar again."""

    def emit(self, record: logging.LogRecord) -> None:
        from tqdm import tqdm

        try:
            tqdm.write(self.format(record), file=self.stream)
        except Exception:
            self.handleError(record)


def _above(handler: logging.Handler) -> logging.Handler:
    stream = getattr(handler, "stream", None)
    if isinstance(handler, (logging.FileHandler, _AboveTheBar)) or stream not in (
        sys.stderr,
        sys.stdout,
    ):
        return handler  # files, syslog, ...: nothing to tear
    replacement = _AboveTheBar(stream)
    replacement.setLevel(handler.level)
    replacement.setFormatter(handler.formatter)
    for log_filter in handler.filters:
        replacement.addFilter(log_filter)
    return replacement


@contextlib.contextmanager
def logs_above_the_bar() -> Iterator[None]:
    """While the block runs, the log lines that the streamdump and root loggers (and Python's
    last-resort handler) write to the terminal go above the bar instead of through it.

    Like tqdm.contrib.logging.logging_redirect_tqdm, but keeping each handler's level and adding
    no handler to a logger that had none (which would show records that were not shown before).
    """
    loggers = [logging.getLogger("streamdump"), logging.root]
    saved = [list(logger.handlers) for logger in loggers]
    last_resort = logging.lastResort
    try:
        for logger in loggers:
            logger.handlers = [_above(handler) for handler in logger.handlers]
        if last_resort is not None:
            logging.lastResort = _above(last_resort)
        yield
    finally:
        for logger, handlers in zip(loggers, saved, strict=True):
            logger.handlers = handlers
        logging.lastResort = last_resort
