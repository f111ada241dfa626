"""Build damaged or altered streams for tests, with digests recomputed so only the change shows."""

from __future__ import annotations

from collections.abc import Callable

import orjson
import zstandard

from streamdump.format import row_digest, stream_digest

Mutator = Callable[[str | None, dict | list], dict | list | None]


def lines_of(data: bytes) -> list[bytes]:
    """The NDJSON lines of a compressed stream."""
    raw = zstandard.ZstdDecompressor().stream_reader(data, read_across_frames=True).read()
    return raw.rstrip(b"\n").split(b"\n")


def rewrite(data: bytes, mutate: Mutator) -> bytes:
    """Apply mutate(section_model, parsed_line) to every line; keep digests and counts valid.

    mutate returns the new value, or None to drop the line.
    """
    out: list[bytes] = []
    model = None
    digest, count, digests, total = row_digest(), 0, [], 0
    for line in lines_of(data):
        obj = orjson.loads(line)
        if isinstance(obj, dict) and obj["type"] == "section":
            model, digest, count = obj["model"], row_digest(), 0
        new = mutate(model, obj)
        if new is None:
            continue
        if isinstance(new, dict) and new["type"] == "end":
            new = {**new, "rows": count, "digest": digest.hexdigest()}
            digests.append(new["digest"])
            total += count
        if isinstance(new, dict) and new["type"] == "trailer":
            new = {**new, "sections": len(digests), "rows": total, "digest": stream_digest(digests)}
        encoded = orjson.dumps(new) + b"\n"
        if isinstance(new, list):
            digest.update(encoded)
            count += 1
        out.append(encoded)
    return zstandard.ZstdCompressor().compress(b"".join(out))


def header_rows(data: bytes, model: str, rows: int) -> Mutator:
    """A mutator setting the header's announced row count of one table (keep counts coherent)."""

    def mutate(section, obj):
        if isinstance(obj, dict) and obj["type"] == "header":
            for table in obj["tables"]:
                if table["model"] == model:
                    table["rows"] = rows
        return obj

    return mutate
