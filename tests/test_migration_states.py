"""Migration states compared the way Django's loader does: squashes, replaced files, differences.

The squashing app (example/squashing) has one schema and five variants of its migrations, chosen
by EXAMPLE_SQUASH: `originals` (before a squash), `kept` (the squash beside its originals),
`gone` (only the squash, still naming what it replaces), `plain` (only the squash, without
`replaces`) and `newer` (`kept` and a later data migration). The real round trips migrate a
source with one variant and import its dump into a target running another.
"""

from __future__ import annotations

import sqlite3

import pytest
from django.test import override_settings

from streamdump.migrationstate import migration_problems

from .helpers import digests, example_env, manage, migrated_sqlite

SQUASH = "0001_squashed_0003_gadget_colour"
ORIGINALS = ["0001_initial", "0002_gadget_size", "0003_gadget_colour"]


def squash_env(variant: str, path) -> dict[str, str]:
    env = example_env("sqlite", path)
    env["EXAMPLE_SQUASH"] = variant
    return env


@pytest.fixture(scope="module")
def dumps(sqlite_template, tmp_path_factory):
    """dumps(migrated_with, exported_with=None): a source migrated by one variant, dumped once."""
    made: dict[tuple[str, str], tuple] = {}

    def dump(migrated_with: str, exported_with: str | None = None):
        exported_with = exported_with or migrated_with
        if (migrated_with, exported_with) not in made:
            directory = tmp_path_factory.mktemp(f"squash-{migrated_with}-{exported_with}")
            path = migrated_sqlite(sqlite_template, directory / "source.sqlite3")
            env = squash_env(migrated_with, path)
            manage("migrate", "-v0", env=env)
            code = (
                "from squashing.models import Gadget; "
                "Gadget.objects.bulk_create("
                "Gadget(name=f'g{i}', size=i, colour='red') for i in range(30))"
            )
            manage("shell", "-c", code, env=env)
            out = directory / "dump.ndjson.zst"
            env = squash_env(exported_with, path)
            manage("dumpstream", "-o", str(out), env=env)
            made[migrated_with, exported_with] = (out, digests(env)["squashing.Gadget"])
        return made[migrated_with, exported_with]

    return dump


def import_into(sqlite_template, tmp_path, variant: str, dump):
    """Load a dump into a fresh target running `variant`; the process and the target's env."""
    env = squash_env(variant, migrated_sqlite(sqlite_template, tmp_path / "target.sqlite3"))
    return manage("loadstream", str(dump), env=env, check=False), env


@pytest.mark.parametrize(
    ("source", "exported_with", "target"),
    [
        ("kept", None, "gone"),  # the originals deleted after every installation applied it
        ("originals", None, "gone"),  # a source that never ran the squash
        ("gone", None, "originals"),  # the dump has the squash, the target only its originals
        ("gone", None, "kept"),
        ("plain", None, "kept"),  # the dump has only the squash recorded
        ("kept", "plain", "plain"),  # stale records of the deleted originals in the dump
    ],
)
def test_squashed_states_that_are_the_same_schema_import(
    dumps, sqlite_template, tmp_path, source, exported_with, target
):
    dump, source_digest = dumps(source, exported_with)
    result, env = import_into(sqlite_template, tmp_path, target, dump)
    assert result.returncode == 0, result.stderr.decode()
    assert digests(env)["squashing.Gadget"] == source_digest
    assert source_digest[0] == 30


def test_a_dump_of_older_code_is_upgraded_through_the_squash(dumps, sqlite_template, tmp_path):
    """The dump applied the squash; the target's code has a data migration after it, which
    runs on the imported rows."""
    dump, source_digest = dumps("kept")
    result, env = import_into(sqlite_template, tmp_path, "newer", dump)
    assert result.returncode == 0, result.stderr.decode()
    assert "migrate forward: 1 migrations" in result.stderr.decode()
    code = "from squashing.models import Gadget; print('NAMES', Gadget.objects.get(size=7).name)"
    assert "NAMES G7" in manage("shell", "-c", code, env=env).stdout.decode()
    assert digests(env)["squashing.Gadget"][0] == 30


def test_a_dump_of_older_code_is_refused_when_strict(dumps, sqlite_template, tmp_path):
    dump, _ = dumps("kept")
    env = squash_env("newer", migrated_sqlite(sqlite_template, tmp_path / "target.sqlite3"))
    result = manage("loadstream", "--strict-migrations", str(dump), env=env, check=False)
    err = result.stderr.decode()
    assert result.returncode != 0
    assert (
        "migration squashing.0004_gadget_names exists in the target but is not applied in the "
        "dump (the dump is older than the target's code)"
    ) in err
    assert "unchanged" in err
    assert "Traceback" not in err
    with sqlite3.connect(env["EXAMPLE_DB_NAME"]) as db:  # refused before migrating it
        tables = {name for (name,) in db.execute("SELECT name FROM sqlite_master")}
    assert "squashing_gadget" not in tables


def test_a_dump_of_newer_code_is_refused_naming_the_migration(dumps, sqlite_template, tmp_path):
    dump, _ = dumps("newer")
    result, _ = import_into(sqlite_template, tmp_path, "gone", dump)
    err = result.stderr.decode()
    assert result.returncode != 0
    assert (
        "migration squashing.0004_gadget_names is applied in the dump but the target's code "
        "does not have it (the target runs older or different code)"
    ) in err
    assert "0001_initial" not in err  # the squash's records are not differences


# --- the comparison itself, against the target's real migration files ----------------------


def problems_with(variant: str, header: dict) -> list[str]:
    """migration_problems for the squashing app, with the target's code at `variant`."""
    with override_settings(
        INSTALLED_APPS=["django.contrib.contenttypes", "squashing"],
        MIGRATION_MODULES={"squashing": f"squashing.variants.{variant}"},
    ):
        return migration_problems(header, ["squashing"])


def header(applied, replacements=None, stale=None) -> dict:
    result = {"migrations": {"squashing": applied}}
    if replacements is not None:
        result["replacements"] = {"squashing": replacements}
    if stale is not None:
        result["stale_migrations"] = {"squashing": stale}
    return result


def test_a_partly_applied_squash_uses_the_originals_when_they_are_there():
    assert problems_with("kept", header(ORIGINALS[:2])) == [
        "migration squashing.0003_gadget_colour exists in the target but is not applied in the "
        "dump (the dump is older than the target's code)"
    ]


def test_a_partly_applied_squash_whose_originals_are_gone_is_refused():
    assert problems_with("gone", header(ORIGINALS[:2])) == [
        f"the dump has applied 2 of the 3 migrations squashed into squashing.{SQUASH}; the "
        "target's code no longer has squashing.0003_gadget_colour to apply the rest"
    ]


def test_fully_applied_originals_count_as_the_squash_like_django():
    for variant in ("kept", "gone"):
        assert problems_with(variant, header(ORIGINALS)) == []
        assert problems_with(variant, header([*ORIGINALS, SQUASH])) == []


def test_a_dump_that_skipped_a_migration_comes_from_different_code():
    applied = ["0001_initial", "0002_gadget_weight", "0003_gadget_colour"]
    assert problems_with("originals", header(applied)) == [
        "migration squashing.0002_gadget_size exists in the target but is not applied in the "
        "dump although it has applied squashing.0003_gadget_colour, which depends on it (the "
        "dump comes from different code)",
        "migration squashing.0002_gadget_weight is applied in the dump but the target's code "
        "does not have it (the target runs older or different code)",
    ]


def test_the_sources_squash_is_known_only_through_the_header():
    """A target with only the originals learns from the header what the dump's squash was."""
    replaced = [["squashing", name] for name in ORIGINALS]
    assert problems_with("originals", header([*ORIGINALS, SQUASH], {SQUASH: replaced})) == []
    assert problems_with("originals", header([*ORIGINALS, SQUASH])) == [
        f"migration squashing.{SQUASH} is applied in the dump but the target's code does not "
        "have it (the target runs older or different code)"
    ]


def test_stale_records_are_differences_only_when_the_source_had_the_migration():
    applied = [*ORIGINALS, SQUASH]
    assert problems_with("plain", header(applied, stale=ORIGINALS)) == []
    assert len(problems_with("plain", header(applied))) == 3


def test_an_empty_dump_is_older_than_every_migration():
    assert problems_with("gone", header([])) == [
        f"migration squashing.{SQUASH} exists in the target but is not applied in the dump "
        "(the dump is older than the target's code)"
    ]


@pytest.mark.parametrize("target", ["never migrated", "freshly migrated"])
def test_a_dump_whose_state_is_inside_a_squash_is_refused_before_any_write(
    sqlite_template, tmp_path, target
):
    """The dump applied two of the three migrations the target's code squashes; Django's graph
    for the target holds the squash whole (applied in full, or not at all), so there is no
    point inside it to import at. Refused before anything is written, naming the migrations."""
    source = squash_env("originals", migrated_sqlite(sqlite_template, tmp_path / "source.sqlite3"))
    manage("migrate", "-v0", env=source)
    manage("migrate", "-v0", "squashing", "0002_gadget_size", env=source)
    dump = tmp_path / "dump.ndjson.zst"
    # Its rows are left out: the models are at 0003's state, and the refusal comes first anyway.
    manage("dumpstream", "-e", "squashing", "-o", str(dump), env=source)
    path = tmp_path / "target.sqlite3"
    env = squash_env("newer", path)
    if target == "freshly migrated":
        manage("migrate", "-v0", env=env)

    def tables_and_history() -> tuple[set[str], list[tuple[str, str]]]:
        if not path.exists():
            return set(), []
        with sqlite3.connect(path) as db:
            tables = {name for (name,) in db.execute("SELECT name FROM sqlite_master")}
            rows = []
            if "django_migrations" in tables:
                rows = db.execute("SELECT app, name FROM django_migrations ORDER BY id").fetchall()
        return tables, rows

    before = tables_and_history()
    result = manage("loadstream", "-v2", str(dump), env=env, check=False)
    err = result.stderr.decode()
    assert result.returncode != 0
    assert (
        f"the dump's state squashing.0002_gadget_size is inside the squashed migration "
        f"squashing.{SQUASH} (which replaces squashing.0001_initial, squashing.0002_gadget_size, "
        f"squashing.0003_gadget_colour), and this target's code applies that squash whole"
    ) in err
    assert "the database is unchanged" in err
    assert "step journal check:" in err and "step preflight" not in err  # refused there
    assert "Traceback" not in err
    assert tables_and_history() == before
    assert ("squashing_gadget" in before[0]) == (target == "freshly migrated")
