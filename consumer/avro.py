"""Avro binary encoding for the two records of every event: cards out, trace events in.

fastavro walks the schema for every record: a dict per record, a type dispatch per field.
At tens of thousands of events a second that walk was the largest part of the service's
CPU (writing cards a third, reading events a sixth; bench/README.md). A plan is made from
the same parsed schema, once: one code per field, in the schema's order, which is also the
NamedTuple's. Writing gives fastavro's bytes, reading gives fastavro's values (checked on
generated records in tests/unit/test_avro.py), in about half the time.

A plan knows only the types our two schemas use; a schema with any other fails at start-up,
so a schema change cannot write or read wrong values silently. Reading plans are only for a
writer schema equal to our reader schema (the common case); a different writer schema,
which needs schema resolution, is read by fastavro.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

# What a field is, as far as a plan cares. A reading plan gives an optional record as a pair:
# the record's own plan and the NamedTuple to make of its values.
# (Final, here and below: compiled, a Final constant is a C value or a static, not a lookup
# in the module's dict for every field of every record.)
STRING: Final = 0
DOUBLE: Final = 1
LONG: Final = 2
INT: Final = 3
OPTIONAL_STRING: Final = 4
OPTIONAL_STRINGS_RECORD: Final = 5
ReadPlan = tuple["int | tuple[ReadPlan, Callable[[list[Any]], Any]]", ...]

_DOUBLE: Final = struct.Struct("<d").pack
_READ_DOUBLE: Final = struct.Struct("<d").unpack_from
_PRIMITIVES: Final = {"string": STRING, "double": DOUBLE, "long": LONG, "int": INT}
_INT_MIN: Final = -(2**31)
_INT_MAX: Final = 2**31 - 1
_LONG_LIMIT: Final = 2**64  # a zig-zag long above this does not fit in 64 bits
_ONE_BYTE: Final = [bytes((i,)) for i in range(0x80)]
_NULL: Final = b"\x00"  # union branch 0 (null), or the end of an array
_SECOND_BRANCH: Final = b"\x02"  # union branch 1, zig-zag encoded


def plan(schema: dict[str, Any], field_names: Sequence[str]) -> tuple[int, ...]:
    """One code per field of the parsed record ``schema``; ``ValueError`` if the schema has a
    field this encoder cannot write or the fields are not ``field_names``, in that order."""
    _check_fields(schema, field_names)
    return tuple(_code(f["name"], f["type"]) for f in schema["fields"])


def _check_fields(schema: dict[str, Any], field_names: Sequence[str]) -> None:
    names = [f["name"] for f in schema["fields"]]
    if names != list(field_names):
        raise ValueError(f"the schema's fields {names} are not {list(field_names)}")


def _code(name: str, t: Any) -> int:
    if isinstance(t, dict) and t.get("type") in tuple(_PRIMITIVES):
        t = t["type"]  # a primitive written as an object (a logical type has been removed)
    if isinstance(t, str) and t in _PRIMITIVES:
        return _PRIMITIVES[t]
    if isinstance(t, list) and len(t) == 2 and t[0] == "null":
        if t[1] == "string":
            return OPTIONAL_STRING
        if _strings_record(t[1]):
            return OPTIONAL_STRINGS_RECORD
    raise ValueError(f"field {name}: the card encoder cannot write {t!r}")


def _strings_record(t: Any) -> bool:
    # A record with one field, an array of strings (the card's scope: agent_roles).
    if not (isinstance(t, dict) and t.get("type") == "record" and len(t["fields"]) == 1):
        return False
    items = t["fields"][0]["type"]
    return isinstance(items, dict) and items.get("type") == "array" and items["items"] == "string"


def long_bytes(n: int) -> bytes:
    """A long, zig-zag then as a base-128 varint, least significant group first."""
    z = (n << 1) ^ (n >> 63)
    if z < 0x80:
        return _ONE_BYTE[z]
    out = bytearray()
    while z >= 0x80:
        out.append(z & 0x7F | 0x80)
        z >>= 7
    out.append(z)
    return bytes(out)


def encode(codes: tuple[int, ...], record: Sequence[Any], header: bytes) -> bytes:
    """``header`` and then ``record``'s fields as the plan's ``codes`` say."""
    parts = [header]
    add = parts.append
    for code, value in zip(codes, record, strict=True):
        if code == STRING:
            b = value.encode()
            n = len(b)
            add(_ONE_BYTE[n << 1] if n < 0x40 else long_bytes(n))  # most are under 64 bytes
            add(b)
        elif code == DOUBLE:
            add(_DOUBLE(value))
        elif code in (LONG, INT):  # an int is written as a long is
            add(long_bytes(value))
        elif value is None:
            add(_NULL)
        elif code == OPTIONAL_STRING:
            b = value.encode()
            add(_SECOND_BRANCH)
            add(long_bytes(len(b)))
            add(b)
        else:  # OPTIONAL_STRINGS_RECORD: a value with one field, a sequence of strings
            (items,) = value
            add(_SECOND_BRANCH)
            if items:
                add(long_bytes(len(items)))
                for item in items:
                    b = item.encode()
                    add(long_bytes(len(b)))
                    add(b)
            add(_NULL)
    return b"".join(parts)


def read_plan(
    schema: dict[str, Any], fields: Sequence[str], records: Mapping[str, type[Any]]
) -> ReadPlan:
    """The reading plan of a parsed record ``schema`` whose fields are ``fields``, in order;
    ``records`` names the NamedTuple for each field that is an optional record."""
    _check_fields(schema, fields)
    plan: list[int | tuple[ReadPlan, Callable[[list[Any]], Any]]] = []
    for f in schema["fields"]:
        t = f["type"]
        if isinstance(t, list) and len(t) == 2 and t[0] == "null" and f["name"] in records:
            nested = records[f["name"]]
            if not (isinstance(t[1], dict) and t[1].get("type") == "record"):
                raise ValueError(f"field {f['name']}: {t[1]!r} is not a record")
            plan.append((read_plan(t[1], nested._fields, {}), nested._make))
        else:
            plan.append(_code(f["name"], t))
    if OPTIONAL_STRINGS_RECORD in plan:
        raise ValueError("a reading plan does not read an optional record of strings")
    return tuple(plan)


def read(plan: ReadPlan, raw: bytes, pos: int) -> tuple[list[Any], int]:
    """The values of one record at ``raw[pos:]`` and the position after it.

    Raw bytes are untrusted: what does not fit the plan raises ``ValueError`` (including
    ``UnicodeDecodeError``), ``EOFError`` or ``IndexError``, never anything else. Stricter
    than fastavro where fastavro reads nonsense: an int outside 32 bits and a varint longer
    than a long are errors here (fastavro truncates them).
    """
    values: list[Any] = []
    add = values.append
    for code in plan:
        optional_record = code.__class__ is tuple
        if optional_record or code == OPTIONAL_STRING:
            branch = raw[pos]
            pos += 1
            if branch == 0:
                add(None)
                continue
            if branch != 2:
                raise ValueError(f"union branch {_unzigzag(branch)} does not exist")
            if optional_record:
                nested, make = code  # type: ignore[misc]
                got, pos = read(nested, raw, pos)
                add(make(got))
                continue
            code = STRING
        if code == STRING:
            n, pos = _read_long(raw, pos)
            if n < 0:
                raise ValueError(f"a string of negative length {n}")
            end = pos + n
            if end > len(raw):
                raise EOFError(f"a string of {n} bytes runs past the record's end")
            add(raw[pos:end].decode())
            pos = end
        elif code == DOUBLE:
            if pos + 8 > len(raw):
                raise EOFError("a double runs past the record's end")
            add(_READ_DOUBLE(raw, pos)[0])
            pos += 8
        else:  # LONG or INT
            n, pos = _read_long(raw, pos)
            if code == INT and not _INT_MIN <= n <= _INT_MAX:
                raise ValueError(f"{n} does not fit an Avro int")
            add(n)
    return values, pos


def _unzigzag(z: int) -> int:
    return (z >> 1) ^ -(z & 1)


def _read_long(raw: bytes, pos: int) -> tuple[int, int]:
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
