"""A fixture's first pass with a helper process (fixturesplit.py): the same spool, the same
import, the same first error as in one process."""

from __future__ import annotations

import dataclasses
import io
import uuid

import orjson
import pytest
from django.core.management import call_command
from inventory.generate import generate

from streamdump import database_digests, fixturesplit, load
from streamdump.conf import get_config
from streamdump.errors import FormatError, ImportFailed
from streamdump.fixturestream import FixtureTables
from streamdump.framing import Framed

pytestmark = pytest.mark.django_db(transaction=True, databases=["default", "target"])


@pytest.fixture
def fixture(tmp_path) -> bytes:
    generate(300, seed=13, using="default")
    path = tmp_path / "fixture.json"
    call_command(
        "dumpdata", format="json", output=str(path), database="default", verbosity=0,
        use_natural_foreign_keys=True, use_natural_primary_keys=True,
        exclude=["contenttypes", "auth.permission", "sessions"],
    )  # fmt: skip
    return path.read_bytes()


@pytest.fixture
def helped(monkeypatch):
    """Force the helper early, with small batches; returns the labels it took."""
    monkeypatch.setattr(fixturesplit, "helper_pays", lambda config: True)
    monkeypatch.setattr(fixturesplit, "HELPER_AFTER", 40)
    monkeypatch.setattr(fixturesplit, "_BATCH", 7)
    taken: list[str] = []
    takes = fixturesplit.FirstPassHelper.takes

    def spying(self, label, rows):  # type: ignore[no-untyped-def]
        took = takes(self, label, rows)
        if took:
            taken.append(label)
        return took

    monkeypatch.setattr(fixturesplit.FirstPassHelper, "takes", spying)
    return taken


class _Trickle(io.RawIOBase):
    """A file whose read() gives at most 16 KiB: input read in small pieces."""

    def __init__(self, data: bytes) -> None:
        self.data, self.at = data, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[no-untyped-def]
        piece = self.data[self.at : self.at + min(1 << 14, len(buffer))]
        buffer[: len(piece)] = piece
        self.at += len(piece)
        return len(piece)


def _first_pass(data: bytes, trickle: bool = False) -> dict:
    stream = _Trickle(data) if trickle else io.BytesIO(data)
    tables = FixtureTables(Framed(stream), get_config())  # type: ignore[arg-type]
    try:
        counts = tables.spool.counts
        return {
            "lines": {
                label: [line for lines in tables.spool.line_batches(label) for line in lines]
                for label in counts
            },  # fmt: skip
            "counts": counts,
            "natural": dict(tables.natural),
            "keys": {
                label: {column: keys.keys for column, keys in columns.items()}
                for label, columns in tables.natural_keys.items()
            },  # fmt: skip
            "records": tables.records,
        }
    finally:
        tables.close()


def test_the_helper_gives_the_same_spool_as_one_process(fixture, monkeypatch, helped):
    with monkeypatch.context() as alone:
        alone.setattr(fixturesplit, "helper_pays", lambda config: False)
        expected = _first_pass(fixture)
    actual = _first_pass(fixture)
    assert len(helped) >= 3
    assert actual == expected


def test_an_import_with_the_helper_is_the_same(fixture, monkeypatch, helped):
    off = dataclasses.replace(get_config(), decode_worker=False)
    load(io.BytesIO(fixture), using="target", clear=True, config=off)
    expected = database_digests("target")
    load(io.BytesIO(fixture), using="target", clear=True)
    assert helped and database_digests("target") == expected


def _spoiled(data: bytes, spoil: dict[str, str]) -> tuple[bytes, dict[str, int]]:
    """The fixture with the first record of each model in `spoil` given a bad value in that
    field; the numbers of those records."""
    records = orjson.loads(data)
    numbers = {}
    for number, record in enumerate(records, 1):
        field = spoil.get(record["model"])
        if field and record["model"] not in numbers:
            record["fields"][field] = "not a value"
            numbers[record["model"]] = number
    return orjson.dumps(records), numbers


@pytest.mark.parametrize("helper_takes", ["inventory.part", "inventory.stockitem"])
def test_the_first_bad_record_in_the_file_is_named_whoever_read_it(
    fixture, monkeypatch, helper_takes
):
    """Parts come before stock items: the error names the part's record, whether the helper
    or this process converted it."""
    monkeypatch.setattr(fixturesplit, "helper_pays", lambda config: True)
    monkeypatch.setattr(fixturesplit, "HELPER_AFTER", 2)
    monkeypatch.setattr(fixturesplit, "_BATCH", 5)

    def takes(self, label, rows):  # type: ignore[no-untyped-def]
        if label == helper_takes:
            self.labels.add(label)
            return True
        return False

    monkeypatch.setattr(fixturesplit.FirstPassHelper, "takes", takes)
    data, numbers = _spoiled(
        fixture, {"inventory.part": "created", "inventory.stockitem": "quantity"}
    )
    assert numbers["inventory.part"] < numbers["inventory.stockitem"]
    with pytest.raises(FormatError) as error:
        FixtureTables(Framed(io.BytesIO(data)), get_config())
    assert f"record {numbers['inventory.part']} (inventory.Part), field created" in str(error.value)
    # Damaged further on: the bad record before the damage is named, not the damage.
    with pytest.raises(ImportFailed, match=f"record {numbers['inventory.part']} "):
        load(io.BytesIO(data[:-100]), using="target", clear=True)
    # The helper's own error, alone (the file is otherwise good).
    data, numbers = _spoiled(fixture, {helper_takes: "created" if "part" in helper_takes
                                       else "quantity"})  # fmt: skip
    with pytest.raises(FormatError, match=f"record {numbers[helper_takes]} "):
        FixtureTables(Framed(io.BytesIO(data)), get_config())


def test_a_helper_that_dies_fails_the_first_pass(fixture, monkeypatch):
    import os
    import signal

    monkeypatch.setattr(fixturesplit, "helper_pays", lambda config: True)
    monkeypatch.setattr(fixturesplit, "HELPER_AFTER", 40)
    started = fixturesplit.FirstPassHelper.__init__

    def killed(self, *args):  # type: ignore[no-untyped-def]
        started(self, *args)
        os.kill(self._process.pid, signal.SIGKILL)
        self._process.join()

    monkeypatch.setattr(fixturesplit.FirstPassHelper, "__init__", killed)
    with pytest.raises(ImportFailed, match="the process helping to read the fixture stopped"):
        load(io.BytesIO(fixture), using="target", clear=True)


@pytest.mark.django_db(databases=[])
def test_the_helper_is_forked_only_with_a_core_to_spare(monkeypatch):
    """As the decode worker: on with DECODE_WORKER, off where the load average leaves no core
    to spare, unless DECODE_WORKER is "always"."""
    from streamdump import cpuwatch

    monkeypatch.setattr(cpuwatch, "cpus", lambda: {0, 1})
    monkeypatch.setattr(fixturesplit, "worker_pays", lambda rows, min_rows: min_rows is not None)
    config = get_config()
    for average, worker, expected in [(0.3, True, True), (2.5, True, False),
                                   (2.5, "always", True), (0.3, False, False)]:  # fmt: skip
        monkeypatch.setattr(cpuwatch.os, "getloadavg", lambda a=average: (a, 0.0, 0.0))
        changed = dataclasses.replace(config, decode_worker=worker)
        assert fixturesplit.helper_pays(changed) is expected, (average, worker)


def test_records_wait_for_the_helper_in_bounded_memory(fixture, monkeypatch, helped):
    """However many records a message may hold, one goes as soon as 64 KiB more input was read
    (as the input is read: here 16 KiB at a time): the records waiting were parsed from at most
    that."""
    monkeypatch.setattr(fixturesplit, "_BATCH", 10**9)
    monkeypatch.setattr(fixturesplit, "_BATCH_BYTES", 1 << 16)
    sizes: list[int] = []
    send = fixturesplit.FirstPassHelper._send_batch

    def counting(self):  # type: ignore[no-untyped-def]
        sizes.append(len(self._numbers))
        send(self)

    monkeypatch.setattr(fixturesplit.FirstPassHelper, "_send_batch", counting)
    records = orjson.loads(fixture)
    moves = [r for r in records if r["model"] == "inventory.stockmovement"]
    for n in range(3000):  # more stock movements, with keys of their own
        records.append({**moves[n % len(moves)], "pk": str(uuid.UUID(int=n))})
    data = orjson.dumps(records)
    actual = _first_pass(data, trickle=True)
    with monkeypatch.context() as alone:
        alone.setattr(fixturesplit, "helper_pays", lambda config: False)
        assert actual == _first_pass(data)
    assert len(data) > 8 << 16 and len([n for n in sizes if n]) >= 4, (len(data), sizes)


def test_integers_beyond_64_bits_are_exact_whoever_converts_them(fixture, monkeypatch, helped):
    """A JSON document holding integers beyond 64 bits (orjson writes none of them): the
    helper's spool reads them back exactly too, as this process's does."""
    import json

    from inventory.models import StockMovement

    huge = {"n": 2**70, "m": -(2**64) - 1, "list": [18446744073709551616, 1]}
    records = json.loads(fixture)
    movements = [r for r in records if r["model"] == "inventory.stockmovement"]
    assert movements
    for record in movements:
        record["fields"]["payload"] = huge
    data = json.dumps(records).encode()
    off = dataclasses.replace(get_config(), decode_worker=False)
    load(io.BytesIO(data), using="target", clear=True, config=off)
    expected = database_digests("target")
    load(io.BytesIO(data), using="target", clear=True)
    assert "inventory.stockmovement" in helped
    assert database_digests("target") == expected
    payloads = list(StockMovement.objects.using("target").values_list("payload", flat=True))
    assert len(payloads) == len(movements) and all(p == huge for p in payloads)
