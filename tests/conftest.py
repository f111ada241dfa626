"""Shared fixtures: a migrated SQLite template, filled sources and empty targets."""

from __future__ import annotations

import contextlib
import functools
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from .dbservers import create_database, drop_database, require, unique_name
from .helpers import digests, example_env, manage, migrated_sqlite


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory):
    """A migrated, empty SQLite database of the example project, made once per session."""
    path = tmp_path_factory.mktemp("template") / "migrated.sqlite3"
    manage("migrate", "-v0", env=example_env("sqlite", path))
    return path


@pytest.fixture(scope="session")
def source(sqlite_template, tmp_path_factory):
    """A SQLite example database filled by the generator (4,000 inventory rows, 300 of the
    benchmarks' textheavy schema: every table holds rows), and its digests."""
    path = migrated_sqlite(sqlite_template, tmp_path_factory.mktemp("src") / "source.sqlite3")
    env = example_env("sqlite", path)
    manage("generate", "--rows", "4000", env=env)
    manage("generate", "--schema", "textheavy", "--rows", "300", env=env)
    return env, digests(env)


class SmallSource:
    """A small SQLite example database (600 generated rows), exported once with --events."""

    def __init__(self, env: dict[str, str], dump: Path, events: Path) -> None:
        self.env, self.dump, self.events_path = env, dump, events

    @functools.cached_property
    def digests(self) -> dict[str, list]:
        return digests(self.env)

    @functools.cached_property
    def events(self) -> list[dict]:
        """The export's events (--events), one dict a line."""
        return [json.loads(line) for line in self.events_path.read_text().splitlines()]


@pytest.fixture(scope="session")
def small_source(sqlite_template, tmp_path_factory) -> SmallSource:
    """A small example database and a good dump of it, shared by the tests that only read them
    (the command line, conventions, events): one generate and one export for all of them."""
    directory = tmp_path_factory.mktemp("small")
    env = example_env("sqlite", migrated_sqlite(sqlite_template, directory / "db.sqlite3"))
    manage("generate", "--rows", "600", env=env)
    dump, events = directory / "good.ndjson.zst", directory / "export.jsonl"
    manage("dumpstream", "-o", str(dump), "--events", str(events), env=env)
    return SmallSource(env, dump, events)


@pytest.fixture
def empty_target(sqlite_template, tmp_path) -> dict[str, str]:
    """The environment of a fresh, migrated, empty SQLite target."""
    return example_env("sqlite", migrated_sqlite(sqlite_template, tmp_path / "target.sqlite3"))


@pytest.fixture
def new_database(tmp_path) -> Iterator:
    """new_database(vendor): the name of a new, empty database on that backend (a file in the
    test's temporary directory for SQLite); the server databases are dropped afterwards."""
    made: list[tuple[str, str]] = []

    def new(vendor: str) -> str:
        if vendor == "sqlite":
            return str(tmp_path / f"{unique_name('new')}.sqlite3")
        require(vendor)
        made.append((vendor, unique_name("sdnew")))
        create_database(*made[-1])
        return made[-1][1]

    yield new
    for vendor, name in made:
        with contextlib.suppress(Exception):
            drop_database(vendor, name)
