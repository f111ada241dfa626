"""Check the foreign keys of imported tables before commit, as cheaply as each backend allows."""

from __future__ import annotations

from typing import Any

from django.db import DatabaseError

from .errors import StreamdumpError
from .tables import Table


def check_foreign_keys(connection: Any, tables: list[Table]) -> None:
    """Raise StreamdumpError naming the first row whose foreign key points nowhere.

    PostgreSQL fires its deferred constraint triggers and SQLite runs foreign_key_check, through
    Django. MariaDB/MySQL had its checks switched off during the import, and Django's own check
    there introspects information_schema table by table (slow on MariaDB): one anti-join per
    foreign key, from the installed models' metadata, does the same work.
    """
    if connection.vendor != "mysql":
        try:
            connection.check_constraints(table_names=[t.db_table for t in tables])
        except DatabaseError as exc:
            raise StreamdumpError(f"the imported rows break a foreign key: {exc}") from exc
        return
    qn = connection.ops.quote_name
    with connection.cursor() as cursor:
        for table in tables:
            pk = table.model._meta.pk.column
            for field in table.fields:
                if not (field.is_relation and getattr(field, "db_constraint", False)):
                    continue
                target = field.target_field
                parent = target.model._meta.db_table
                cursor.execute(
                    f"SELECT c.{qn(pk)}, c.{qn(field.column)} FROM {qn(table.db_table)} c "
                    f"LEFT JOIN {qn(parent)} p ON c.{qn(field.column)} = p.{qn(target.column)} "
                    f"WHERE c.{qn(field.column)} IS NOT NULL AND p.{qn(target.column)} IS NULL "
                    "LIMIT 1"
                )
                bad = cursor.fetchone()
                if bad is not None:
                    raise StreamdumpError(
                        "the imported rows break a foreign key: the row in table "
                        f"{table.db_table!r} with primary key {bad[0]!r} has {field.column} = "
                        f"{bad[1]!r}, which is not in {parent}.{target.column}"
                    )
