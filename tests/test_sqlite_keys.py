"""SQLite's foreign-key check read in key order (backends/sqlite_keys.py): it may report a key
SQLite would accept (SQLite's own check then decides), never miss one SQLite refuses."""

from __future__ import annotations

import sqlite3

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streamdump.backends.sqlite_keys import affinity, may_have_dangling_keys

# Its subject does not depend on Django's version (SQLite's own foreign-key semantics, in plain
# sqlite3 connections): `make compat` leaves it out, it runs in the main venv.
pytestmark = pytest.mark.version_independent


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def database(schema: str, *inserts: str) -> sqlite3.Connection:
    connection = sqlite3.connect(":memory:")
    connection.executescript(schema)
    for statement in inserts:
        connection.execute(statement)
    return connection


def verdicts(connection: sqlite3.Connection) -> tuple[bool, bool]:
    """(this check: may a key point nowhere, SQLite's: does one)."""
    fast = may_have_dangling_keys(connection.cursor(), quote)
    return fast, bool(connection.execute("PRAGMA foreign_key_check").fetchall())


DJANGO_LIKE = """
CREATE TABLE parent (id integer NOT NULL PRIMARY KEY AUTOINCREMENT, name varchar(10));
CREATE TABLE child (id integer NOT NULL PRIMARY KEY AUTOINCREMENT,
    parent_id bigint NULL REFERENCES parent (id) DEFERRABLE INITIALLY DEFERRED);
CREATE INDEX child_parent ON child (parent_id);
CREATE TABLE coded (code varchar(8) NOT NULL PRIMARY KEY);
CREATE TABLE uses (id integer PRIMARY KEY, code varchar(8) NULL REFERENCES coded (code));
"""


@pytest.mark.parametrize(
    ("rows", "dangling"),
    [
        ([], False),
        (["INSERT INTO parent VALUES (1, 'a')", "INSERT INTO child VALUES (1, 1)"], False),
        (["INSERT INTO child VALUES (1, NULL)"], False),
        (["INSERT INTO parent VALUES (1, 'a')", "INSERT INTO child VALUES (1, 2)"], True),
        (["INSERT INTO coded VALUES ('x')", "INSERT INTO uses VALUES (1, 'x')"], False),
        (["INSERT INTO coded VALUES ('x')", "INSERT INTO uses VALUES (1, 'X')"], True),
        (["INSERT INTO uses VALUES (1, NULL)"], False),
    ],
)
def test_django_shaped_keys_are_decided_exactly(rows, dangling):
    assert verdicts(database(DJANGO_LIKE, *rows)) == (dangling, dangling)


def test_keys_of_another_shape_are_left_to_sqlite():
    schema = """
    CREATE TABLE pair (a integer, b integer, PRIMARY KEY (a, b));
    CREATE TABLE to_pair (id integer PRIMARY KEY, a integer, b integer,
        FOREIGN KEY (a, b) REFERENCES pair (a, b));
    CREATE TABLE named (id integer PRIMARY KEY, slug text UNIQUE);
    CREATE TABLE to_named (id integer PRIMARY KEY, slug text REFERENCES named (slug));
    CREATE TABLE to_text (id integer PRIMARY KEY, ref text REFERENCES pair_free (id));
    CREATE TABLE pair_free (id integer PRIMARY KEY);
    CREATE TABLE to_nowhere (id integer PRIMARY KEY, ref integer REFERENCES missing (id));
    """
    assert verdicts(database(schema)) == (False, False)
    for broken in [
        "INSERT INTO to_pair VALUES (1, 1, 2)",
        "INSERT INTO to_named VALUES (1, 'no')",
        "INSERT INTO to_text VALUES (1, 'seven')",
        "INSERT INTO to_nowhere VALUES (1, 3)",
    ]:
        assert verdicts(database(schema, broken)) == (True, True), broken
    fine = ["INSERT INTO pair VALUES (1, 2)", "INSERT INTO to_pair VALUES (1, 1, 2)",
            "INSERT INTO named VALUES (1, 's')", "INSERT INTO to_named VALUES (1, 's')",
            "INSERT INTO pair_free VALUES (7)", "INSERT INTO to_text VALUES (1, '7')"]  # fmt: skip
    assert verdicts(database(schema, *fine)) == (False, False)


def test_a_key_only_the_parents_collation_matches_is_left_to_sqlite():
    schema = """
    CREATE TABLE folded (code text COLLATE NOCASE NOT NULL PRIMARY KEY);
    CREATE TABLE to_folded (id integer PRIMARY KEY, code text REFERENCES folded (code));
    """
    connection = database(
        schema, "INSERT INTO folded VALUES ('abc')", "INSERT INTO to_folded VALUES (1, 'ABC')"
    )
    assert verdicts(connection) == (True, False)


def test_affinity_follows_sqlites_rules():
    declared = ["bigint", "INTEGER", "varchar(8)", "CLOB", "", "blob", "double precision",
                "decimal", "floating point"]  # fmt: skip
    assert [affinity(t) for t in declared] == [
        "INTEGER",
        "INTEGER",
        "TEXT",
        "TEXT",
        "BLOB",
        "BLOB",
        "REAL",
        "NUMERIC",
        "INTEGER",
    ]


VALUES = st.one_of(
    st.none(),
    st.integers(-3, 3),
    st.sampled_from(["1", "01", " 1", "1.0", "a", "A", "a ", ""]),
    st.sampled_from([1.0, 1.5, -0.0]),
    st.sampled_from([b"1", b"a"]),
)
TYPES = st.sampled_from(["integer", "bigint", "text", "varchar(5)", "real", "decimal", "blob", ""])


@settings(max_examples=300, deadline=None)
@given(
    parent_type=TYPES,
    child_type=TYPES,
    not_null=st.booleans(),
    parents=st.lists(VALUES, max_size=4),
    children=st.lists(VALUES, max_size=4),
)
def test_never_misses_what_sqlite_refuses(parent_type, child_type, not_null, parents, children):
    connection = sqlite3.connect(":memory:")
    constraint = "NOT NULL " if not_null else ""
    connection.executescript(
        f"CREATE TABLE p (k {parent_type} {constraint}PRIMARY KEY);"
        f"CREATE TABLE c (id integer PRIMARY KEY, k {child_type} REFERENCES p (k));"
        "CREATE INDEX c_k ON c (k);"
    )
    for value in parents:
        try:
            connection.execute("INSERT INTO p VALUES (?)", [value])
        except sqlite3.DatabaseError:
            pass  # a duplicate, a NULL refused, a non-integer rowid
    connection.executemany("INSERT INTO c (k) VALUES (?)", [[value] for value in children])
    fast, refused = verdicts(connection)
    assert fast or not refused
