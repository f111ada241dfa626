"""Whether a core was free lately for a second process: the decode worker pays only then.

The worker takes work off the importing process but adds about a fifth to the total (the
values cross a pipe): on a machine whose every core is busy (other jobs, or the exporting side
of `dumpstream | loadstream`) it only competes with the import for CPU time, and measured
under load it made the import slower (docs/PERFORMANCE.md). So before forking one, the import
looks at how much CPU time its cores had to spare since it last looked: the time they were idle
(or waiting for I/O), plus the time this process and its finished workers ran (theirs to
reuse). At least SPARE cores' worth per second of wall time: a worker pays.

Linux reads /proc/stat (the CPUs this process may run on); elsewhere the load average stands in
(one minute's average of the processes wanting a CPU, this one included); without either, the
worker is assumed to pay.
"""

from __future__ import annotations

import os
import time

SPARE = 1.5  # cores: this process's one, and half of one for the worker at least
MIN_WINDOW = 0.2  # seconds: a shorter look (the clock ticks every 10 ms) keeps the last verdict
# The shortest look since the process started that a first decision trusts: /proc/stat and
# times() count in 10 ms ticks, so over 2 cores and 0.1 s the error is at most 0.3 cores.
FIRST_LOOK = 0.1


def cpus() -> set[int]:
    """The CPUs this process may run on."""
    try:
        return set(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return set(range(os.cpu_count() or 1))


def _idle_seconds(cpus: set[int]) -> float | None:
    """Idle and I/O-wait time of these CPUs since boot (/proc/stat), or None."""
    try:
        with open("/proc/stat", "rb") as stat:
            lines = stat.read().splitlines()
        ticks = 0
        for line in lines:
            if line[:3] == b"cpu" and line[3:4].isdigit():
                name, _, _, _, idle, iowait, *_ = line.split()
                if int(name[3:]) in cpus:
                    ticks += int(idle) + int(iowait)
        return ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, AttributeError):
        return None


def _free_by_load(cpus: set[int]) -> float | None:
    """Cores of `cpus` the one-minute load average leaves to spare, or None where unknown."""
    try:
        load = os.getloadavg()[0]
    except (OSError, AttributeError):
        return None
    return len(cpus) - load + 1  # the load counts this process


def _own_seconds() -> float:
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


class CpuWatch:
    """Looks, at each spare() call, at the CPU time its cores had to spare since the last."""

    def __init__(self) -> None:
        self.cpus = cpus()
        self._last = self._sample()
        self.verdict = True
        self.free = float(len(self.cpus))  # cores to spare in the last window, for the log
        self.looks = 0  # windows long enough to count (or load averages read) so far

    def _sample(self) -> tuple[float, float | None, float]:
        return time.monotonic(), _idle_seconds(self.cpus), _own_seconds()

    def spare(self, min_window: float = MIN_WINDOW) -> bool:
        """Whether at least SPARE cores were idle or ours, on average, since the last look (a
        look shorter than `min_window` keeps the last verdict)."""
        now = self._sample()
        wall, idle, own = (a - b if a is not None and b is not None else None
                           for a, b in zip(now, self._last, strict=True))  # fmt: skip
        if idle is None:
            free = _free_by_load(self.cpus)
            if free is None:
                return True
            self.free = free
        elif wall is not None and wall >= min_window:
            self.free = (idle + (own or 0.0)) / wall
            self._last = now
        else:
            return self.verdict
        self.looks += 1
        self.verdict = self.free >= SPARE
        return self.verdict


_since_start: CpuWatch | None = None


def watch_from_start() -> None:
    """Start watching now, early in a command's process (at Django's set-up), so that a decision
    taken a moment after the command starts looks at its whole life, not at a minute's load."""
    global _since_start
    _since_start = CpuWatch()


def core_to_spare() -> bool:
    """Whether a second process would have a core to itself now: the CPU time spared since
    watch_from_start() where that was at least FIRST_LOOK ago, else the one-minute load average
    (which lags: right after another job's minute on one core it still counts that job)."""
    watch = _since_start
    if watch is not None:
        verdict = watch.spare(FIRST_LOOK)
        if watch.looks:
            return verdict
    return load_leaves_a_core()


def load_leaves_a_core() -> bool:
    """Whether the one-minute load average leaves SPARE cores of this process's CPUs to it and
    a helper (for a decision taken before any window was watched; True where it is unknown)."""
    free = _free_by_load(cpus())
    return free is None or free >= SPARE
