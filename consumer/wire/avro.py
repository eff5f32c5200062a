"""Avro binary encoding, a field at a time, for the two records of every event.

fastavro walks the schema for every record: a dict per record, a type dispatch per field.
At tens of thousands of events a second that walk was the largest part of the service's
CPU (writing cards a third, reading events a sixth; bench/README.md). The codec writes a
card and reads a trace event field by field instead, with the typed primitives here (typed,
so that the compiled build calls them as C functions on C values): fastavro's bytes and
fastavro's values, checked on generated records in tests/unit/test_avro.py, in a third of
the time.

Those field-by-field codecs are only right for the schemas they were written for, so a
schema is first reduced to its ``layout``, one code per field, and the codec refuses at
start-up a schema whose layout is not its own: a schema change cannot write or read wrong
values silently. A writer schema other than our reader schema, which needs schema
resolution, is read by fastavro.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping, Sequence
from typing import Any, Final

# What a field is, as far as a codec cares. An optional record of other fields is the tuple
# of their codes. (Final, here and below: compiled, a Final constant is a C value or a static,
# not a lookup in the module's dict.)
STRING: Final = 0
DOUBLE: Final = 1
LONG: Final = 2
INT: Final = 3
OPTIONAL_STRING: Final = 4
OPTIONAL_STRINGS_RECORD: Final = 5  # an optional record of one field, an array of strings
OPTIONAL_DOUBLE: Final = 6
Layout = tuple["int | Layout", ...]

_PACK_DOUBLE: Final = struct.Struct("<d").pack
_UNPACK_DOUBLE: Final = struct.Struct("<d").unpack_from
_PRIMITIVES: Final = {"string": STRING, "double": DOUBLE, "long": LONG, "int": INT}
_INT_MIN: Final = -(2**31)
_INT_MAX: Final = 2**31 - 1
_LONG_LIMIT: Final = 2**64  # a zig-zag long above this does not fit in 64 bits
_ONE_BYTE: Final = [bytes((i,)) for i in range(0x80)]
_NULL: Final = b"\x00"  # union branch 0 (null), or the end of an array
_SECOND_BRANCH: Final = b"\x02"  # union branch 1, zig-zag encoded


# -- layouts ----------------------------------------------------------------------------------


def layout(
    schema: dict[str, Any],
    field_names: Sequence[str],
    records: Mapping[str, Sequence[str]] | None = None,
) -> Layout:
    """One code per field of the parsed record ``schema``; ``ValueError`` if a field has a
    type the codecs cannot handle or the fields are not ``field_names``, in that order.
    ``records`` names the fields of each field that is an optional record of its own."""
    names = [f["name"] for f in schema["fields"]]
    if names != list(field_names):
        raise ValueError(f"the schema's fields {names} are not {list(field_names)}")
    codes: list[int | Layout] = []
    for f in schema["fields"]:
        name, t = f["name"], f["type"]
        if records and name in records:
            if not (isinstance(t, list) and len(t) == 2 and t[0] == "null"):
                raise ValueError(f"field {name}: {t!r} is not an optional record")
            if not (isinstance(t[1], dict) and t[1].get("type") == "record"):
                raise ValueError(f"field {name}: {t[1]!r} is not a record")
            codes.append(layout(t[1], records[name]))
        else:
            codes.append(_code(name, t))
    return tuple(codes)


def _code(name: str, t: Any) -> int:
    if isinstance(t, dict) and t.get("type") in tuple(_PRIMITIVES):
        t = t["type"]  # a primitive written as an object (a logical type has been removed)
    if isinstance(t, str) and t in _PRIMITIVES:
        return _PRIMITIVES[t]
    if isinstance(t, list) and len(t) == 2 and t[0] == "null":
        if t[1] == "string":
            return OPTIONAL_STRING
        if t[1] == "double":
            return OPTIONAL_DOUBLE
        if _strings_record(t[1]):
            return OPTIONAL_STRINGS_RECORD
    raise ValueError(f"field {name}: the codec cannot handle {t!r}")


def _strings_record(t: Any) -> bool:
    # A record with one field, an array of strings (the card's scope: agent_roles).
    if not (isinstance(t, dict) and t.get("type") == "record" and len(t["fields"]) == 1):
        return False
    items = t["fields"][0]["type"]
    return isinstance(items, dict) and items.get("type") == "array" and items["items"] == "string"


# -- writing: each appends a value's bytes to the record's parts -------------------------------


def long_bytes(n: int) -> bytes:
    """A long, zig-zag then as a base-128 varint, least significant group first."""
    z = (n << 1) ^ (n >> 63)
    if z < 0x80:
        return _ONE_BYTE[z]
    # The groups gathered in one int, then its bytes at once: compiled, a third of the time
    # of appending them to a bytearray (a card has three varints over a byte).
    groups = 0
    shift = 0
    while z >= 0x80:
        groups |= (z & 0x7F | 0x80) << shift
        z >>= 7
        shift += 8
    groups |= z << shift
    return groups.to_bytes(shift // 8 + 1, "little")


def put_string(out: list[bytes], text: str) -> None:
    b = text.encode()
    n = len(b)
    out.append(_ONE_BYTE[n << 1] if n < 0x40 else long_bytes(n))  # most are under 64 bytes
    out.append(b)


def put_double(out: list[bytes], x: float) -> None:
    out.append(_PACK_DOUBLE(x))


def put_long(out: list[bytes], n: int) -> None:
    out.append(long_bytes(n))


def put_optional_string(out: list[bytes], text: str | None) -> None:
    if text is None:
        out.append(_NULL)
    else:
        out.append(_SECOND_BRANCH)
        put_string(out, text)


def put_optional_double(out: list[bytes], x: float | None) -> None:
    if x is None:
        out.append(_NULL)
    else:
        out.append(_SECOND_BRANCH)
        out.append(_PACK_DOUBLE(x))


def put_optional_strings(out: list[bytes], items: tuple[str, ...] | None) -> None:
    """An optional record whose one field is an array of strings."""
    if items is None:
        out.append(_NULL)
        return
    out.append(_SECOND_BRANCH)
    if items:  # an array is blocks of items, a count before each, ended by an empty block
        out.append(long_bytes(len(items)))
        for item in items:
            put_string(out, item)
    out.append(_NULL)


# -- reading: each returns a value and the position after it ----------------------------------
#
# Raw bytes are untrusted: what does not fit raises ``ValueError`` (including
# ``UnicodeDecodeError``), ``EOFError`` or ``IndexError``, never anything else. Stricter than
# fastavro where fastavro reads nonsense: an int outside 32 bits and a varint longer than a
# long are errors here (fastavro truncates them).


def read_long(raw: bytes, pos: int) -> tuple[int, int]:
    b = raw[pos]
    if b < 0x80:  # most lengths and small numbers: one byte
        return (b >> 1) ^ -(b & 1), pos + 1
    z = b & 0x7F
    shift = 7
    while True:
        pos += 1
        b = raw[pos]
        z |= (b & 0x7F) << shift
        if b < 0x80:
            break
        shift += 7
        if shift > 63:
            raise ValueError("a varint longer than ten bytes")
    if z >= _LONG_LIMIT:
        raise ValueError("a varint larger than a long")
    return (z >> 1) ^ -(z & 1), pos + 1


def read_int(raw: bytes, pos: int) -> tuple[int, int]:
    n, pos = read_long(raw, pos)
    if not _INT_MIN <= n <= _INT_MAX:
        raise ValueError(f"{n} does not fit an Avro int")
    return n, pos


def read_double(raw: bytes, pos: int) -> tuple[float, int]:
    if pos + 8 > len(raw):
        raise EOFError("a double runs past the record's end")
    x: float = _UNPACK_DOUBLE(raw, pos)[0]
    return x, pos + 8


def read_string(raw: bytes, pos: int) -> tuple[str, int]:
    n, pos = read_long(raw, pos)
    if n < 0:
        raise ValueError(f"a string of negative length {n}")
    end = pos + n
    if end > len(raw):
        raise EOFError(f"a string of {n} bytes runs past the record's end")
    return raw[pos:end].decode(), end


def read_present(raw: bytes, pos: int) -> tuple[bool, int]:
    """Which branch of a ``["null", T]`` union follows: whether there is a value."""
    branch = raw[pos]
    if branch == 0:
        return False, pos + 1
    if branch != 2:
        raise ValueError(f"union branch {(branch >> 1) ^ -(branch & 1)} does not exist")
    return True, pos + 1


def read_optional_string(raw: bytes, pos: int) -> tuple[str | None, int]:
    present, pos = read_present(raw, pos)
    if not present:
        return None, pos
    return read_string(raw, pos)
