"""Database servers for tests, without Django: reachability, the CI rule, databases made, dropped.

PostgreSQL at 127.0.0.1:5432 (user postgres, trust auth) and MariaDB at 127.0.0.1:3306 (user root,
empty password). A server that cannot be reached skips its tests with the reason shown, or fails
them when the environment variable CI is set: on CI a missing server is never a silent pass.

Shared by the main suite (tests/servers.py adds Django aliases) and the real-application suite
(tests_apps/), which runs in a virtualenv of its own and never imports Django in its test process.
"""

from __future__ import annotations

import os
import uuid
from functools import cache

import pytest

VENDORS = ("sqlite", "postgresql", "mysql")
SERVERS = {
    "postgresql": "PostgreSQL at 127.0.0.1:5432 (user postgres)",
    "mysql": "MariaDB/MySQL at 127.0.0.1:3306 (user root)",
}
# Exact, case-sensitive text comparison, as Django's own MySQL test databases use.
MYSQL_CREATE = "CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"


def unique_name(prefix: str = "sdtest") -> str:
    """A database name no other test or session uses."""
    return f"{prefix}_{uuid.uuid4().hex[:12]}"


# --- server connections outside Django ------------------------------------------------------


def _admin(vendor: str):
    """An autocommit driver connection to the server's maintenance database."""
    if vendor == "postgresql":
        import psycopg

        return psycopg.connect(
            host="127.0.0.1", port=5432, user="postgres", dbname="postgres",
            autocommit=True, connect_timeout=5,
        )  # fmt: skip
    import MySQLdb

    return MySQLdb.connect(
        host="127.0.0.1", port=3306, user="root", password="", connect_timeout=5, autocommit=True
    )


@cache
def server_problem(vendor: str) -> str | None:
    """Why the server for `vendor` cannot be used, or None when it can (SQLite always can)."""
    if vendor == "sqlite":
        return None
    try:
        conn = _admin(vendor)
    except ImportError as exc:
        return f"the driver is not installed ({exc}); run `make test`"
    except Exception as exc:  # any driver's connection error
        return f"cannot connect to {SERVERS[vendor]}: {str(exc).strip()}"
    conn.close()
    return None


def on_ci() -> bool:
    """CI is set (to anything but an empty string, 0 or false)."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def require(vendor: str) -> None:
    """Skip (visibly) the calling test when the server is unreachable; with CI set, fail it."""
    problem = server_problem(vendor)
    if problem is None:
        return
    if on_ci():
        pytest.fail(f"CI is set and {vendor} is required: {problem}", pytrace=False)
    pytest.skip(f"{vendor}: {problem} (set CI=1 to make this a failure)")


def _execute(vendor: str, *statements: str) -> None:
    conn = _admin(vendor)
    try:
        cursor = conn.cursor()
        for sql in statements:
            cursor.execute(sql)
    finally:
        conn.close()


def create_database(vendor: str, name: str, template: str | None = None) -> None:
    """An empty server database (or a copy of a PostgreSQL template)."""
    if vendor == "postgresql":
        suffix = f' TEMPLATE "{template}"' if template else ""
        _execute(vendor, f'CREATE DATABASE "{name}"{suffix}')
    else:
        _execute(vendor, f"CREATE DATABASE `{name}` {MYSQL_CREATE}")
        if template:
            _clone_mysql(template, name)


def drop_database(vendor: str, name: str) -> None:
    """Drop a server database, closing other sessions on it first (PostgreSQL)."""
    if vendor == "postgresql":
        try:
            _execute(vendor, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        except Exception:  # PostgreSQL before 13 has no FORCE; our sessions are closed anyway
            _execute(vendor, f'DROP DATABASE IF EXISTS "{name}"')
    else:
        _execute(vendor, f"DROP DATABASE IF EXISTS `{name}`")


def _clone_mysql(template: str, name: str) -> None:
    # Far faster than migrating again: each table's own CREATE statement (foreign keys
    # included, unlike CREATE TABLE ... LIKE) and its rows (migration history, content types).
    conn = _admin("mysql")
    try:
        cursor = conn.cursor()
        cursor.execute("SET SESSION foreign_key_checks = 0")
        cursor.execute(f"SHOW FULL TABLES FROM `{template}` WHERE Table_type = 'BASE TABLE'")
        tables = [row[0] for row in cursor.fetchall()]
        cursor.execute(f"USE `{name}`")
        for table in tables:
            cursor.execute(f"SHOW CREATE TABLE `{template}`.`{table}`")
            cursor.execute(cursor.fetchone()[1])
            cursor.execute(f"INSERT INTO `{table}` SELECT * FROM `{template}`.`{table}`")
    finally:
        conn.close()


def mysql_schema(name: str) -> dict[str, str]:
    """Every table and view of a MariaDB database with its definition (SHOW CREATE TABLE), the
    next auto-increment value aside (rows inserted and rolled back move it)."""
    import re

    conn = _admin("mysql")
    try:
        cursor = conn.cursor()
        cursor.execute(f"SHOW FULL TABLES FROM `{name}`")
        tables = sorted(row[0] for row in cursor.fetchall())
        schema = {}
        for table in tables:
            cursor.execute(f"SHOW CREATE TABLE `{name}`.`{table}`")
            schema[table] = re.sub(r" AUTO_INCREMENT=\d+", "", cursor.fetchone()[1])
        return schema
    finally:
        conn.close()


def mysql_rows(name: str, sql: str) -> list[tuple]:
    """The rows of one query in a MariaDB database."""
    conn = _admin("mysql")
    try:
        cursor = conn.cursor()
        cursor.execute(f"USE `{name}`")
        cursor.execute(sql)
        return list(cursor.fetchall())
    finally:
        conn.close()
