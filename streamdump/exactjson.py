"""JSON with integers of any size: orjson for every value it handles exactly, Python's json module
for the rare one it does not.

orjson writes integers only within 64 bits (it refuses the others) and reads the ones beyond as
floats (3.10 and later; it refused them before), while a JSON document in a database, and
therefore in dumpdata's fixtures, may hold any integer (issue 11). Every line of a stream and of
a fixture's spool is written and read through here where a JSON document may be in it:

- writing, orjson first; a value it refuses is written again with its long integers spliced in
  as text (orjson.Fragment), every other byte as orjson writes it;
- reading, orjson, unless the text has a number beyond 64 bits somewhere (has_long_number: in
  a string too, which is then merely read more slowly): the json module then reads it, integers
  exact and everything else as orjson reads it (NaN, infinities and lone surrogates refused, as
  orjson refuses them).
"""

from __future__ import annotations

import json
import re
from typing import Any

import orjson

_NEWLINE = orjson.OPT_APPEND_NEWLINE
_LOW, _HIGH = -(1 << 63), (1 << 64) - 1  # what orjson reads and writes exactly
# An integer beyond them is above 18446744073709551615 (20 digits) or below
# -9223372036854775808 (a sign and 19 digits). Digits and minus signs are made zeros and 20
# zeros looked for: linear, about ten instructions a byte (a regular expression backtracks over
# every shorter run; looking at every tenth byte first costs more where numbers are many). The
# numbers of such a run are then read, to tell -9223372036854775808 (which orjson reads) from
# the others.
_DIGITS = bytes(0x30 if 0x30 <= i <= 0x39 or i == 0x2D else i for i in range(256))
_LONG = b"0" * 20
_RUN = re.compile(rb"[-0-9]*").match
_NUMBERS = re.compile(rb"-?[0-9]+").findall


def has_long_number(data: bytes | str) -> bool:
    """Whether `data` holds, as 20 digits or minus signs in a row, an integer beyond what orjson
    reads exactly: in a JSON number, or perhaps only in text."""
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
    translated = raw.translate(_DIGITS)
    at = translated.find(_LONG)
    while at >= 0:
        run = _RUN(raw, at).group()  # type: ignore[union-attr]  # it matches an empty run too
        if any(not _LOW <= int(number) <= _HIGH for number in _NUMBERS(run)):
            return True
        at = translated.find(_LONG, at + len(run))
    return False


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


def _finite(text: str) -> float:
    value = float(text)
    if value - value != 0:  # orjson refuses a number beyond a double's range
        raise ValueError(f"number {text[:40]} is infinity when parsed as double")
    return value


_DECODER = json.JSONDecoder(parse_constant=_refuse_constant, parse_float=_finite)


def loads_exact(data: bytes | str) -> Any:
    """The JSON value of `data`, read by the json module: integers of any size exact, everything
    else as orjson reads it. Raises ValueError (json.JSONDecodeError for bad syntax, as
    orjson.JSONDecodeError is one) for what orjson would refuse."""
    text = data if isinstance(data, str) else bytes(data).decode("utf-8")
    try:
        value = _DECODER.decode(text)
    except RecursionError:  # orjson refuses documents nested deeper than 1024 too
        raise ValueError("JSON nested deeper than the recursion limit") from None
    if "\\u" in text:  # perhaps an escaped lone surrogate, which orjson refuses
        try:
            json.dumps(value, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError("a lone surrogate in a string") from None
        except RecursionError:
            raise ValueError("JSON nested deeper than the recursion limit") from None
    return value


def loads(data: bytes | str) -> Any:
    """The JSON value of `data`, exactly: orjson, or loads_exact() where it may not be."""
    if has_long_number(data):
        return loads_exact(data)
    return orjson.loads(data)


def _spliced(value: Any) -> Any:
    """`value` with its integers beyond what orjson writes replaced by their text."""
    cls = value.__class__
    if cls is list or cls is tuple:
        return [_spliced(v) for v in value]
    if cls is dict:
        return {k: _spliced(v) for k, v in value.items()}
    if isinstance(value, int) and not isinstance(value, bool) and not _LOW <= value <= _HIGH:
        return orjson.Fragment(str(int(value)))
    return value


def dumps(value: Any, *, newline: bool = False) -> bytes:
    """`value` as JSON, as orjson writes it, integers of any size included; raises TypeError
    (orjson.JSONEncodeError) for anything else orjson refuses."""
    option = _NEWLINE if newline else 0
    try:
        return orjson.dumps(value, option=option)
    except orjson.JSONEncodeError:
        try:
            spliced = _spliced(value)
        except RecursionError:
            raise orjson.JSONEncodeError("JSON nested deeper than the recursion limit") from None
        return orjson.dumps(spliced, option=option)
