"""Each codec on edge values: encode -> JSON line -> decode gives back exactly the value."""

from __future__ import annotations

import datetime
import io
import json
import math
import re
import uuid
from decimal import Decimal

import orjson
import pytest
from django.db import connection, connections, models
from hypothesis import given, settings
from hypothesis import strategies as st

from streamdump.backends import backend_for
from streamdump.codecs import codec_name, decoder, encoder, row_function
from streamdump.errors import CodecError
from streamdump.exactjson import has_long_number
from streamdump.reader import StreamReader
from streamdump.writer import StreamWriter

FIELDS = {
    "int": models.BigIntegerField(),
    "str": models.TextField(),
    "bool": models.BooleanField(),
    "float": models.FloatField(),
    "decimal": models.DecimalField(max_digits=40, decimal_places=20),
    "datetime": models.DateTimeField(),
    "date": models.DateField(),
    "time": models.TimeField(),
    "duration": models.DurationField(),
    "uuid": models.UUIDField(),
    "bytes": models.BinaryField(),
}
for _name, _field in FIELDS.items():
    _field.set_attributes_from_name(_name)


def through_stream(name: str, value):
    """Encode a value, pass it through a JSON line as the stream would, and decode it."""
    field = FIELDS[name]
    enc = encoder(name, field)
    encoded = value if enc is None else enc(value)
    line = orjson.dumps([encoded])
    (back,) = orjson.loads(line)
    return decoder(name, field, backend_for(connections["default"]), prep=False)(back)


aware = st.datetimes(
    min_value=datetime.datetime(1, 1, 2), max_value=datetime.datetime(9999, 12, 30)
).flatmap(
    lambda dt: st.integers(-14 * 60, 14 * 60).map(
        lambda minutes: dt.replace(tzinfo=datetime.timezone(datetime.timedelta(minutes=minutes)))
    )
)


@settings(max_examples=300)
@given(st.integers(-(2**63), 2**63 - 1))
def test_int(value):
    assert through_stream("int", value) == value


@given(st.text())
def test_str_any_unicode(value):
    assert through_stream("str", value) == value


@given(st.booleans())
def test_bool(value):
    assert through_stream("bool", value) is value


@settings(max_examples=300)
@given(st.floats(allow_nan=True, allow_infinity=True))
def test_float_bit_exact(value):
    back = through_stream("float", value)
    if math.isnan(value):
        assert math.isnan(back)
    else:
        assert back == value and math.copysign(1, back) == math.copysign(1, value)


@settings(max_examples=300)
@given(st.decimals(allow_nan=False, allow_infinity=False, places=None))
def test_decimal_keeps_every_digit_and_exponent(value):
    back = through_stream("decimal", value)
    assert back == value and back.as_tuple() == value.as_tuple()


@settings(max_examples=300)
@given(st.one_of(aware, st.datetimes()))
def test_datetime_aware_and_naive_with_microseconds(value):
    back = through_stream("datetime", value)
    assert back == value and back.utcoffset() == value.utcoffset()
    assert back.microsecond == value.microsecond
    assert (back.tzinfo is None) == (value.tzinfo is None)


@given(st.dates())
def test_date(value):
    assert through_stream("date", value) == value


@given(st.times())
def test_time(value):
    assert through_stream("time", value) == value


# Databases keep durations as 64-bit microseconds (PostgreSQL's interval holds about as much).
MAX_DURATION = datetime.timedelta(microseconds=2**63 - 1)


@settings(max_examples=300)
@given(st.timedeltas(min_value=-MAX_DURATION, max_value=MAX_DURATION))
def test_duration_integer_microseconds(value):
    field = FIELDS["duration"]
    assert isinstance(encoder("duration", field)(value), int)
    assert through_stream("duration", value) == value


@given(st.uuids())
def test_uuid(value):
    assert through_stream("uuid", value) == value


@given(st.binary(max_size=512))
def test_bytes_and_memoryview(value):
    assert through_stream("bytes", value) == value
    assert through_stream("bytes", memoryview(value)) == value


json_documents = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=200)
@given(json_documents)
def test_json_document_boxed_so_null_differs_from_sql_null(document):
    field = models.JSONField(null=True)
    field.set_attributes_from_name("doc")
    raw = orjson.dumps(document).decode()
    encoded = encoder("json", field)(raw)
    assert encoded == [document]  # SQL NULL stays a bare null (rows skip None)
    (back,) = orjson.loads(orjson.dumps([encoded]))
    assert decoder("json", field, backend_for(connections["default"]), prep=False)(back) == document


# Integers of any size, as a database's JSON column holds them (issue 11): orjson writes none
# beyond 64 bits and reads them as floats; the ends of its range, and 19 digits in a row.
ANY_INTEGER = st.integers() | st.sampled_from(
    [2**64 - 1, 2**64, -(2**63), -(2**63) - 1, 10**19, -(10**18) - 1, 2**70, -(2**200)]
)
documents_with_any_integer = st.recursive(
    st.none()
    | st.booleans()
    | ANY_INTEGER
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(alphabet="0123456789abc\"\\é"),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=30,
)


def typed(value) -> str:
    """The JSON text of a value: an integer and the float equal to it differ here."""
    return json.dumps(value)


@settings(max_examples=300)
@given(documents_with_any_integer)
def test_json_documents_keep_integers_of_any_size_through_the_stream(document):
    """Encoded from the column's text (as Django writes it), written as a row line, read back
    by the reader and decoded: the same document, every integer an integer of the same value."""
    field = models.JSONField(null=True)
    field.set_attributes_from_name("doc")
    encoded = encoder("json", field)(json.dumps(document))
    assert typed(encoded) == typed([document])
    section = {"model": "app.A", "table": "app_a", "phase": "remainder",
               "columns": [["id", "int"], ["doc", "json"]]}  # fmt: skip
    out = io.BytesIO()
    with StreamWriter(out) as writer:
        writer.header({"tables": [{**section, "rows": 2}]})
        writer.section(section)
        writer.rows([[1, encoded], [2, None]])
        writer.end()
        writer.trailer()
    reader = StreamReader(io.BytesIO(out.getvalue()))
    rows = [row for s in reader.sections() for _, batch in s.batches() for row in batch]
    assert rows[1] == [2, None]
    back = decoder("json", field, backend_for(connections["default"]), prep=False)(rows[0][1])
    assert typed(back) == typed(document)


def _beyond_64_bits(data: bytes) -> bool:
    """has_long_number's question, answered by regular expressions."""
    return any(
        not -(2**63) <= int(number) <= 2**64 - 1
        for run in re.findall(rb"[-0-9]{20,}", data)
        for number in re.findall(rb"-?[0-9]+", run)
    )


@settings(max_examples=500)
@given(
    st.lists(
        st.binary(max_size=6)
        | st.sampled_from([b"-", b"0", b"9", b"--", b" "])
        | st.integers().map(lambda n: str(n).encode()),
        max_size=12,
    ).map(b"".join)
)
def test_long_numbers_are_found_wherever_they_are(data):
    assert has_long_number(data) == _beyond_64_bits(data)
    if data.isascii():
        assert has_long_number(data.decode()) == _beyond_64_bits(data)


def test_json_null_document_and_sql_null_stay_distinct():
    field = models.JSONField(null=True)
    field.set_attributes_from_name("doc")
    row = row_function([encoder("json", field)])
    assert row(["null"]) == [[None]]
    assert row([None]) == [None]


@pytest.mark.parametrize(
    ("name", "bad"),
    [
        ("int", "12"),
        ("int", True),
        ("str", 5),
        ("bool", 1),
        ("float", "1.5"),
        ("decimal", 1.5),
        ("decimal", "one"),
        ("datetime", "2024-13-01T00:00:00"),
        ("date", "yesterday"),
        ("duration", 1.5),
        ("uuid", "not-a-uuid"),
        ("bytes", "***"),
    ],
)
def test_wrong_values_are_refused_with_the_column(name, bad):
    fn = row_function(
        [None, decoder(name, FIELDS[name], backend_for(connections["default"]), prep=False)]
    )
    with pytest.raises(CodecError) as info:
        fn([1, bad])
    assert info.value.column_index == 1


def test_json_box_is_required():
    field = models.JSONField()
    field.set_attributes_from_name("doc")
    with pytest.raises(CodecError, match="boxed"):
        decoder("json", field, backend_for(connections["default"]))({"a": 1})


def test_codec_names_for_example_fields():
    from inventory.models import Attachment, Part, StockMovement

    names = {
        f.name: codec_name(f, frozenset({"contenttypes.ContentType"}))
        for f in Part._meta.local_concrete_fields
    }
    assert names["id"] == "int"
    assert names["minimum_stock"] == "decimal"
    assert names["lead_time"] == "duration"
    assert names["metadata"] == "json"
    assert names["image"] == "str"
    assert names["uuid"] == "uuid"
    assert names["category"] == "int"  # foreign key: the target's codec
    movement = {f.name: codec_name(f) for f in StockMovement._meta.local_concrete_fields}
    assert movement["id"] == "uuid" and movement["timestamp"] == "datetime"
    attachment = {
        f.name: codec_name(f, frozenset({"contenttypes.ContentType"}))
        for f in Attachment._meta.local_concrete_fields
    }
    assert attachment["content_type"] == "natural" and attachment["data"] == "bytes"


def test_custom_field_falls_back_to_value_to_string():
    class Money(Decimal):
        pass

    class MoneyField(models.DecimalField):
        def from_db_value(self, value, expression, connection):
            return None if value is None else Money(value)

    field = MoneyField(max_digits=10, decimal_places=2)
    field.set_attributes_from_name("price")
    assert codec_name(field) == "text"
    encoded = encoder("text", field)(Money("12.50"))
    assert encoded == "12.50"
    assert decoder("text", field, backend_for(connections["default"]), prep=False)(
        encoded
    ) == Decimal("12.50")


def test_a_custom_field_of_a_json_column_moves_the_stored_document():
    # Like Wagtail's StreamField: a plain Field declaring the JSONField column, whose Python value
    # is no JSON document. The document goes as stored, so the target's JSON column gets the same.
    class Blocks(list):
        pass

    class BlocksField(models.Field):
        def get_internal_type(self):
            return "JSONField"

        def from_db_value(self, value, expression, connection):
            return None if value is None else Blocks(orjson.loads(value))

    field = BlocksField(null=True)
    field.set_attributes_from_name("body")
    assert codec_name(field) == "json"
    stored = '[{"type": "heading", "value": "\\ud83d\\ude42", "id": "x"}]'
    encoded = encoder("json", field)(stored)
    assert encoded == [[{"type": "heading", "value": "\U0001f642", "id": "x"}]]
    assert (
        orjson.loads(decoder("json", field, backend_for(connections["default"]))(encoded))
        == encoded[0]
    )


def test_uuid_type():
    assert through_stream("uuid", uuid.UUID(int=0)) == uuid.UUID(int=0)


# The shortcuts of Backend.prep_shortcut must give exactly what the field's get_db_prep_save gives.
PREP_CASES = {
    "datetime": [
        "2024-03-05T12:34:56.123456+00:00",
        "2024-03-05T12:34:56+00:00",
        "2024-03-05T12:34:56.000000+00:00",
        "2024-03-05 12:34:56.123456+00:00",
        "2024-03-05T12:34:56.123+00:00",
        "2024-03-05T12:34:56.123456Z",
        "2024-03-05T12:34:56.123456-00:00",
        "2024-03-05T12:34:56.123456+02:00",
        "2024-W10-1T12:34:56.123456+00:00",
        "20240305T123456+0000",
        "2024-03-05T12:34:56,123456+00:00",
        "0001-01-01T00:00:00+00:00",
        "9999-12-31T18:00:00.999999-05:30",
    ],
    "decimal": ["0", "-0.00", "1e5", "12345678901234567890.12345678901234567890", " 1.5 ", "1_0"],
    "date": ["2024-03-05", "0001-01-01", "20240305"],
    "time": ["12:34:56", "12:34:56.000100", "1234"],
    "uuid": [
        "12345678-1234-5678-1234-567812345678",
        "12345678-1234-5678-1234-56781234567A",
        "{12345678-1234-5678-1234-567812345678}",
        "12345678123456781234567812345678",
    ],
}


@pytest.mark.parametrize(
    ("name", "text"), [(name, text) for name, texts in PREP_CASES.items() for text in texts]
)
def test_fast_prep_matches_the_field(name, text):
    field = FIELDS[name]
    parse = decoder(name, field, backend_for(connections["default"]), prep=False)
    expected = field.get_db_prep_save(parse(text), connection)
    assert decoder(name, field, backend_for(connections["default"]))(text) == expected


@pytest.mark.parametrize("text", ["NaN", "Infinity", "1.2.3", ""])
def test_fast_decimal_errors_as_the_field(text):
    field = FIELDS["decimal"]
    with pytest.raises(Exception) as fast:
        decoder("decimal", field, backend_for(connections["default"]))(text)
    with pytest.raises(Exception) as slow:
        field.get_db_prep_save(
            decoder("decimal", field, backend_for(connections["default"]), prep=False)(text),
            connection,
        )
    assert type(fast.value) is type(slow.value)


@settings(max_examples=300)
@given(aware)
def test_fast_datetime_matches_the_field(value):
    field = FIELDS["datetime"]
    text = value.isoformat()
    assert decoder("datetime", field, backend_for(connections["default"]))(
        text
    ) == field.get_db_prep_save(value, connection)


# The export's fused converters (Backend.read_encoder) must give what Django's converter followed
# by the encoder gives, on the backend the tests run with.
READ_CASES = {
    "datetime": [datetime.datetime(2024, 3, 5, 12, 34, 56, 123456), datetime.datetime(1, 1, 1)],
    "uuid": ["12345678123456781234567812345678", "12345678-1234-5678-1234-56781234567A"],
    "bool": [0, 1, True, 1.0, 2],
    "date": [datetime.date(2024, 3, 5), datetime.datetime(2024, 3, 5, 1, 2), "2024-03-05"],
    "time": [datetime.time(1, 2, 3, 4), "01:02:03"],
    # SQLite's decimals come as floats or integers: 15 significant digits, then quantized.
    "decimal": [1.015, 0.1, 1e19, -0.0, 3, 123456789.123456789, 2.5e-7, 99999999999999.95],
}


@pytest.mark.parametrize(
    ("name", "raw"), [(name, raw) for name, raws in READ_CASES.items() for raw in raws]
)
def test_read_encoder_matches_the_converters(name, raw):
    from django.db.models.expressions import Col

    field = FIELDS[name]
    expression = Col("t", field)
    converters = connection.ops.get_db_converters(expression)
    enc = encoder(name, field)
    read, _ = backend_for(connections["default"]).read_encoder(enc, converters, expression)
    value = raw
    for convert in converters:
        value = convert(value, expression, connection)
    expected = value if enc is None or value is None else enc(value)
    assert (raw if read is None else read(raw)) == expected


# Backend.read_column: a column read in another form must give what Django's reading gives
# (the driver's converter for the declared type, Django's converters, the encoder).
STORED_DATETIMES = [
    "2024-03-05 12:34:56.123456",
    "2024-03-05 12:34:56",
    "2024-03-05 12:34:56.000000",
    "2024-03-05 12:34:56.5",
    "2024-03-05T12:34:56",
    "2024-03-05 12:34:56.123456+02:00",
    "2024-03-05 12:34:56.1234567",  # fromisoformat refuses it, Django's pattern reads it
    "2024-03-05",
    "0001-01-01 00:00:00",
]


@pytest.mark.parametrize("stored", STORED_DATETIMES)
def test_read_column_matches_the_converters(stored):
    import sqlite3

    from django.db.models.expressions import Col

    backend = backend_for(connections["default"])
    field = FIELDS["datetime"]
    cheaper = backend.read_column(field, "datetime")
    if cheaper is None:
        pytest.skip(f"{connection.vendor} reads datetimes as Django does")
    _, read = cheaper
    expression = Col("t", field)
    converters = connection.ops.get_db_converters(expression)
    value = sqlite3.converters["DATETIME"](stored.encode())  # the driver's, as Django registers
    for convert in converters:
        value = convert(value, expression, connection)
    assert read(stored) == value.isoformat()
