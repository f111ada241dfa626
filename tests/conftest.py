"""Shared fixtures: a migrated SQLite template and helpers to run the example project."""

from __future__ import annotations

import pytest

from .helpers import digests, example_env, manage, migrated_sqlite


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory):
    """A migrated, empty SQLite database of the example project, made once per session."""
    path = tmp_path_factory.mktemp("template") / "migrated.sqlite3"
    manage("migrate", "-v0", env=example_env("sqlite", path))
    return path


@pytest.fixture(scope="session")
def source(sqlite_template, tmp_path_factory):
    """A SQLite example database filled by the generator (4,000 rows), and its digests."""
    path = migrated_sqlite(sqlite_template, tmp_path_factory.mktemp("src") / "source.sqlite3")
    env = example_env("sqlite", path)
    manage("generate", "--rows", "4000", env=env)
    return env, digests(env)
