"""Ratios and targets computed from measured results (dicts as in the results file).

Every ratio compares one measure: the process's wall time as pytest-benchmark measured it (the
"wall" of a result; start-up included, as a user waits for it). The time inside a Django command
("command") is kept in the results as information and used by no ratio. Speed-ups are "how many
times faster streamdump is"; against native tools the ratio is "streamdump's time / native time"
(lower is better).
"""

from __future__ import annotations

MB = 1024  # KiB per MiB
RSS_LIMIT_MB = 150


def schemas(results: list[dict]) -> list[str]:
    """The schemas measured, in harness.SCHEMAS order (results without one: inventory)."""
    found = {r.get("schema", "inventory") for r in results}
    return [s for s in ("inventory", "textheavy") if s in found] + sorted(
        found - {"inventory", "textheavy"}
    )


def of_schema(results: list[dict], schema: str) -> list[dict]:
    """The results of one schema: every other function here compares within one schema."""
    return [r for r in results if r.get("schema", "inventory") == schema]


def find(results: list[dict], backend: str, rows: int, tool: str, operation: str) -> dict | None:
    for r in results:
        if (r["backend"], r["rows"], r["tool"], r["operation"]) == (backend, rows, tool, operation):
            return r
    return None


def seconds(r: dict) -> float:
    """The measure of a result: pytest-benchmark's wall time."""
    return r["wall"]


def scales(results: list[dict], backend: str) -> list[int]:
    return sorted({r["rows"] for r in results if r["backend"] == backend})


def backends(results: list[dict]) -> list[str]:
    order = ["sqlite", "postgresql", "mysql"]
    found = {r["backend"] for r in results}
    return [b for b in order if b in found]


def speedup(results, backend, operation, other) -> tuple[int, float] | None:
    """(rows, other's wall time / streamdump's) at the largest scale where both ran."""
    for rows in reversed(scales(results, backend)):
        ours = find(results, backend, rows, "streamdump", operation)
        theirs = find(results, backend, rows, other, operation)
        if ours and theirs:
            return rows, seconds(theirs) / seconds(ours)
    return None


def import_speedups(results, backend) -> list[tuple[str, int, float]]:
    """[(loaddata format, rows, speed-up)] of streamdump's import: what the gate checks and the
    summary prints."""
    found = []
    for other in ("loaddata-json", "loaddata-jsonl"):
        s = speedup(results, backend, "import", other)
        if s is not None:
            found.append((other, *s))
    return found


def versus_native(results, backend, operation) -> list[tuple[int, float]]:
    """[(rows, streamdump wall / native wall)] at every scale where both ran."""
    out = []
    for rows in scales(results, backend):
        ours = find(results, backend, rows, "streamdump", operation)
        native = find(results, backend, rows, "native", operation)
        if ours and native:
            out.append((rows, seconds(ours) / seconds(native)))
    return out


def pipe_versus(results, backend, export_tool, import_tool) -> list[tuple[int, float]]:
    """[(rows, (export_tool's wall + import_tool's wall) / the pipe's wall)]: how many times
    faster the pipe moves a database than the two tools one after the other."""
    out = []
    for rows in scales(results, backend):
        pipe = find(results, backend, rows, "streamdump", "pipe")
        export = find(results, backend, rows, export_tool, "export")
        restore = find(results, backend, rows, import_tool, "import")
        if pipe and export and restore:
            out.append((rows, (seconds(export) + seconds(restore)) / seconds(pipe)))
    return out


def size_versus_native(results, backend) -> list[tuple[int, float]]:
    out = []
    for rows in scales(results, backend):
        ours = find(results, backend, rows, "streamdump", "export")
        native = find(results, backend, rows, "native", "export")
        if ours and native and native["bytes"]:
            out.append((rows, ours["bytes"] / native["bytes"]))
    return out


def peak_rss_mb(results, backend=None) -> float:
    """Largest peak RSS of any streamdump process (export, import, both ends of the pipe), the
    workers it forked included (harness.PeakSampler)."""
    return peak_rss(results, backend)[0]


def _of_tool(results, backend, tool) -> list[dict]:
    """The results of one tool, on one backend (None: every one)."""
    return [r for r in results if r["tool"] == tool and backend in (None, r["backend"])]


def peak_rss(results, backend=None, tool="streamdump") -> tuple[float, float]:
    """(MB, of which the forked worker's MB) of the largest peak RSS of a process of `tool`."""
    peaks = [
        (kb, r.get("rss_kb_workers", {}).get(name, 0))
        for r in _of_tool(results, backend, tool)
        for name, kb in r["rss_kb_each"].items()
    ]
    kb, worker = max(peaks, default=(0, 0))
    return kb / MB, worker / MB


def peak_memory(results, backend=None, tool="streamdump") -> tuple[float, str]:
    """(MB, what it is) of the most memory a streamdump process held: the largest PSS of a
    process and its workers together (harness.PeakSampler); for results measured before PSS
    was, the largest peak RSS with the worker's added, which counts shared pages twice."""
    measured = [
        kb for r in _of_tool(results, backend, tool) for kb in r.get("pss_kb_each", {}).values()
    ]
    if any(measured):
        return max(measured) / MB, "PSS, own + worker"
    return peak_rss(results, backend, tool)[0], "peak RSS, own + worker"


def rss_text(r: dict) -> str:
    """A result's peak RSS per process in MB, "/" between the ends of a pipe; a process that
    forked a worker as "total (own + worker), PSS together"."""
    workers = r.get("rss_kb_workers", {})
    pss = r.get("pss_kb_each", {})
    parts = []
    for name, kb in r["rss_kb_each"].items():
        worker = workers.get(name, 0)
        text = f"{kb / MB:.0f}"
        if worker:
            text += f" ({(kb - worker) / MB:.0f} + {worker / MB:.0f})"
            if pss.get(name):
                text += f", PSS {pss[name] / MB:.0f}"
        parts.append(text)
    return "/".join(parts)


def targets(results: list[dict]) -> list[tuple[str, str, bool | None, str]]:
    """[(backend, target, met (None: not measured), evidence)] for the issue's targets."""
    out = []
    for b in backends(results):
        for op, other, want in (
            ("import", "loaddata-json", 50),
            ("import", "loaddata-jsonl", 50),
            ("export", "dumpdata-json", 20),
            ("export", "dumpdata-jsonl", 20),
        ):
            s = speedup(results, b, op, other)
            text = (
                f"{op} at least {want}x faster than {other.split('-')[0]} ({other.split('-')[1]})"
            )
            if s is None:
                out.append((b, text, None, "not measured"))
            else:
                out.append((b, text, s[1] >= want, f"{s[1]:.0f}x at {s[0]:,} rows"))
        native_ops = [("import", "restore")]
        if b == "postgresql":
            native_ops.append(("export", "dump"))
        for op, verb in native_ops:
            ratios = versus_native(results, b, op)
            text = f"{op} within 2x the native {verb} (largest scale)"
            if not ratios:
                out.append((b, text, None, "not measured"))
            else:
                rows, ratio = ratios[-1]
                out.append((b, text, ratio <= 2, f"{ratio:.2f}x at {rows:,} rows"))
        held, measure = peak_memory(results, b)
        peak, worker = peak_rss(results, b)
        evidence = f"{peak:.0f} MB"
        if worker:
            evidence += f" ({peak - worker:.0f} MB + its decode worker's {worker:.0f} MB)"
        if measure.startswith("PSS"):
            evidence = f"{held:.0f} MB held together (PSS); peak RSS {evidence}, shared pages twice"
        out.append(
            (b, f"memory under {RSS_LIMIT_MB} MB, every scale, workers included",
             held < RSS_LIMIT_MB, evidence)
        )  # fmt: skip
        if b == "postgresql":
            sizes = size_versus_native(results, b)
            if sizes:
                worst = max(ratio for _, ratio in sizes)
                out.append(
                    (b, "output no larger than pg_dump -Fc", worst <= 1, f"{worst:.2f}x (largest)")
                )
    return out
