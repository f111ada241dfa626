"""Read one table from the database in keyset pages, each row encoded for the stream.

``WHERE pk > last ORDER BY pk LIMIT n`` streams on every backend (MySQL included) and, inside the
export's snapshot, reads one point in time. Pages hold at most batch_size rows and, once the row
width is known, about batch_bytes of encoded rows: memory stays bounded for tables of wide rows
(blobs, documents) too. Writing the rows is the caller's business (a StreamWriter); this module
knows the database side only.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Sequence
from typing import Any

from django.db import DatabaseError, connections

from . import exactjson
from .backends import Backend, backend_for
from .codecs import Fn, encoder, row_function
from .errors import CodecError, StreamdumpError
from .tables import Table

# The first page is small: it measures the width of the rows before full pages are taken.
_FIRST_PAGE = 100

Sink = Callable[[Sequence[Any]], int]  # writes a page of encoded rows, returns its size in bytes


def read_table(
    table: Table,
    using: str,
    sink: Sink,
    *,
    keys_by_pk: dict[str, dict[Any, list[Any]]],
    batch_size: int,
    batch_bytes: int = 1 << 20,
) -> int:
    """Hand every row of `table`, encoded, to `sink` one page at a time; return the row count.

    `keys_by_pk` maps, per regenerated model label, primary keys to natural keys (for the
    "natural" codec). Raises StreamdumpError naming the table, row and column of a value that
    cannot be encoded, or the table when the database refuses the read.
    """
    backend = backend_for(connections[using])
    pk = table.model._meta.pk
    select: list[Any] = []
    encoders: list[Fn | None] = []
    # The same with JSON documents read by orjson alone, for the pages whose JSON texts hold no
    # integer beyond 64 bits: looked for in the whole page at once.
    plain: list[Fn | None] = []
    documents: list[int] = []
    for i, (f, codec, default) in enumerate(
        zip(table.fields, table.codecs, table.select(), strict=True)
    ):
        # The primary key stays as Django reads it: the next page starts after its value.
        cheaper = None if codec == "natural" or f is pk else backend.read_column(f, codec)
        if cheaper is not None:
            select.append(cheaper[0])
            encoders.append(cheaper[1])
            plain.append(cheaper[1])
        else:
            keys = keys_by_pk.get(f.related_model._meta.label) if f.is_relation else None
            select.append(default)
            encoders.append(encoder(codec, f, keys))
            plain.append(encoder(codec, f, keys, within_64_bits=True))
            if codec == "json":
                documents.append(i)
    pk_index = table.fields.index(pk)
    queryset = table.model._base_manager.using(using).order_by("pk").values_list(*select)
    count, last, written = 0, None, 0
    limit = min(batch_size, _FIRST_PAGE)
    exact: Fn | None = None
    encode: Fn = tuple
    plainly: Fn = tuple
    convert: Fn = tuple
    at: list[int] = []  # positions of the JSON documents in the raw rows
    while True:
        page = queryset if last is None else queryset.filter(pk__gt=last)
        try:
            compiler = page[:limit].query.get_compiler(using)
            rows = _fetch(compiler, limit, backend)
        except DatabaseError as exc:
            raise read_error(table, using, exc) from exc
        if not rows:
            break
        if exact is None:  # the same columns and converters on every page
            exact, convert, order = _row_functions(compiler, table, encoders, backend)
            plainly = exact
            if documents:
                plainly = _row_functions(compiler, table, plain, backend)[0]
                at = [order[i] for i in documents]
        encode = exact if at and _long_numbers(rows, at) else plainly
        try:
            written += sink([encode(row) for row in rows])
        except (CodecError, TypeError) as exc:
            bad = next(r for r in rows if not _encodes(encode, r))
            raise _encode_error(table, convert(bad), pk_index, exc) from None
        count += len(rows)
        last = convert(rows[-1])[pk_index]
        if len(rows) < limit:
            break
        limit = max(1, min(batch_size, batch_bytes * count // max(written, 1)))
    return count


def count_rows(table: Table, using: str) -> int:
    """How many rows the table holds (for the header's plan)."""
    try:
        return int(table.model._base_manager.using(using).count())
    except DatabaseError as exc:
        raise read_error(table, using, exc) from exc


def _long_numbers(rows: list[Any], at: list[int]) -> bool:
    """Whether the JSON texts in positions `at` of a page's raw rows may hold an integer beyond
    64 bits (exactjson.has_long_number, over the page at once)."""
    try:
        text = "\n".join([row[i] for row in rows for i in at if row[i] is not None])
    except TypeError:  # not text: each value looked at by the exact encoder
        return True
    return exactjson.has_long_number(text)


def read_error(table: Table, using: str, exc: DatabaseError) -> StreamdumpError:
    """The error for a table the database refused to read."""
    return StreamdumpError(
        f"cannot read {table.label} (table {table.db_table}) from database {using!r}: {exc}"
    )


def _fetch(compiler: Any, limit: int, backend: Backend) -> list[Any]:
    """One page of raw rows (driver values, before Django's converters)."""
    sql, params = compiler.as_sql()
    with compiler.connection.cursor() as cursor:
        backend.prepare_cursor(cursor.cursor)
        cursor.execute(sql, params)
        return list(cursor.fetchall())


def _row_functions(
    compiler: Any, table: Table, encoders: list[Fn | None], backend: Backend
) -> tuple[Fn, Fn, list[int]]:
    """(encode, convert, position of each field in the raw rows) for the compiler's raw rows.

    Reading pages through the compiler instead of iterating the queryset skips Django's
    per-row layers; the columns' converters (backend and field, as the compiler lists them)
    run inside the generated row function, fused with the encoders (Backend.read_encoder).
    convert applies the converters alone: the row as values_list gives it, for messages.
    """
    selected = [s[0] for s in compiler.select[: compiler.col_count]]
    # Django before 5.2 selects annotations (the Cast of JSON columns) after the fields.
    position = {_source_field(expr): i for i, expr in enumerate(selected)}
    try:
        order = [position[f] for f in table.fields]
    except KeyError:
        raise StreamdumpError(f"cannot map the columns of {table.label} to its query") from None
    found = compiler.get_converters(selected)
    connection = compiler.connection
    fns: list[Fn | None] = []
    always: set[int] = set()
    converters = []
    for i, (encode, p) in enumerate(zip(encoders, order, strict=True)):
        convs, expression = found.get(p, ((), None))
        fn, with_nulls = backend.read_encoder(encode, list(convs), expression)
        fns.append(fn)
        if with_nulls:
            always.add(i)
        if convs:
            converters.append((i, convs, expression))
    apply = row_function(fns, always)
    pick: Fn
    if order != sorted(order):
        pick = operator.itemgetter(*order)

        def encode_picked(row: Any) -> Any:
            return apply(pick(row))

        encode = encode_picked
    else:
        encode, pick = apply, tuple

    def convert(row: Any) -> tuple[Any, ...]:
        values = list(pick(row))
        for i, convs, expression in converters:
            for fn in convs:
                values[i] = fn(values[i], expression, connection)
        return tuple(values)

    return encode, convert, order


def _source_field(expression: Any) -> Any:
    while not hasattr(expression, "target"):  # a Col: the field it reads
        sources = expression.get_source_expressions()
        if len(sources) != 1:
            return None
        expression = sources[0]
    return expression.target


def _encodes(encode: Fn, row: Any) -> bool:
    try:
        exactjson.dumps(encode(row))
    except (CodecError, TypeError):
        return False
    return True


def _encode_error(table: Table, row: tuple[Any, ...], pk_index: int, exc: Exception) -> Exception:
    column = None
    if isinstance(exc, CodecError) and exc.column_index is not None:
        column = table.columns[exc.column_index]
    else:  # the JSON encoder refused a value: find which
        for name, value in zip(table.columns, row, strict=True):
            try:
                exactjson.dumps(value)
            except TypeError:
                column = name
                break
    where = f"{table.label} (table {table.db_table}) row pk={row[pk_index]!r}"
    if column:
        where += f" column {column}"
    return StreamdumpError(f"cannot export {where}: {exc}")
