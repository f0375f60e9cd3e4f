"""chDB's Native output, re-laid for the protocol revision a client asks for (client_protocol_version).

chDB writes the revision-0 layout: per block `columns rows` then per column `name type data`. A client
above revision 0 expects each block to start with a BlockInfo, and from revision 54454 each column's type
to be followed by a has_custom_serialization byte (0: the data is plain). The data bytes themselves do not
change, so we walk them (to find where each column ends) and copy them through; we never re-encode values.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Callable

from otel_llmcost.query.errors import QueryError

CUSTOM_SERIALIZATION_REVISION = 54454  # DBMS_MIN_REVISION_WITH_CUSTOM_SERIALIZATION
TIME_ZONE_REVISION = 54337  # DBMS_MIN_REVISION_WITH_TIME_ZONE_PARAMETER_IN_DATETIME_DATA_TYPE
# BlockInfo: field 1 is_overflows = false, field 2 bucket_num = -1, field 0 ends it.
_BLOCK_INFO = b"\x01\x00\x02" + struct.pack("<i", -1) + b"\x00"
NOT_IMPLEMENTED = 48

_FIXED = {
    "UInt8": 1, "Int8": 1, "Bool": 1, "Enum8": 1, "UInt16": 2, "Int16": 2, "Date": 2, "Enum16": 2, "BFloat16": 2,
    "UInt32": 4, "Int32": 4, "Float32": 4, "Date32": 4, "DateTime": 4, "IPv4": 4, "Decimal32": 4,
    "UInt64": 8, "Int64": 8, "Float64": 8, "DateTime64": 8, "Decimal64": 8, "Time": 4, "Time64": 8,
    "UInt128": 16, "Int128": 16, "UUID": 16, "IPv6": 16, "Decimal128": 16,
    "UInt256": 32, "Int256": 32, "Decimal256": 32, "Nothing": 1,
}
_INTERVAL = re.compile(r"^Interval[A-Za-z]+$")


class TextTypesNeeded(Exception):
    """A binary-encoded type (output_format_native_encode_types_in_binary_format) this module cannot name
    exactly as ClickHouse does: the answer must be asked for again with its types as text."""


def at_revision(data: bytes, revision: int, result_types: Callable[[], list[str]] | None = None,
                binary_types: bool = False) -> bytes:
    """`data` (chDB's Native, revision 0) as a client of `revision` decodes it. `result_types`: the result's
    column types as the engine names them, asked for when a top-level column is a bare `DateTime`: at
    revision 0 ClickHouse writes `DateTime('zone')` as `DateTime` (older clients could not parse the zone),
    and a client from revision 54337 on must get the zone back. `binary_types`: `data` was written with
    output_format_native_encode_types_in_binary_format, whose type encoding keeps the zone: each type is
    written back as ClickHouse names it (TextTypesNeeded for one this module cannot name)."""
    if revision <= 0 or not data:
        return data
    full_types: list[str] | None = None
    out = bytearray()
    reader = _Reader(data)
    while not reader.done:
        out += _BLOCK_INFO
        start = reader.pos
        columns, rows = reader.uvarint(), reader.uvarint()
        out += data[start:reader.pos]
        for index in range(columns):
            start = reader.pos
            reader.string()
            name_end = reader.pos
            if binary_types:
                named = type_name_of(reader)
                type_name = named if revision >= TIME_ZONE_REVISION or not named.startswith("DateTime(") else "DateTime"
                out += data[start:name_end] + _string(type_name.encode())
                type_name = ""
                column_type = _parse_type(named)
            else:
                type_name = reader.string().decode()
            if type_name == "DateTime" and revision >= TIME_ZONE_REVISION and result_types is not None:
                full_types = result_types() if full_types is None else full_types
                zoned = full_types[index] if index < len(full_types) else type_name
                if zoned.startswith("DateTime("):
                    out += data[start:name_end] + _string(zoned.encode())
                    type_name = ""
            if type_name:
                out += data[start:reader.pos]
            if revision >= CUSTOM_SERIALIZATION_REVISION:
                out.append(0)
            start = reader.pos
            if not binary_types:
                column_type = _parse_type(type_name or "DateTime")
            _skip_prefixes(reader, column_type)
            _skip(reader, column_type, rows)
            out += data[start:reader.pos]
    return bytes(out)


# Binary type encoding (ClickHouse's "data types binary encoding"): the codes of types named by a fixed text.
_BINARY_NAMES = {
    0x00: "Nothing", 0x01: "UInt8", 0x02: "UInt16", 0x03: "UInt32", 0x04: "UInt64", 0x05: "UInt128", 0x06: "UInt256",
    0x07: "Int8", 0x08: "Int16", 0x09: "Int32", 0x0A: "Int64", 0x0B: "Int128", 0x0C: "Int256", 0x0D: "Float32",
    0x0E: "Float64", 0x0F: "Date", 0x10: "Date32", 0x11: "DateTime", 0x15: "String", 0x1D: "UUID", 0x28: "IPv4",
    0x29: "IPv6", 0x2D: "Bool", 0x31: "BFloat16", 0x32: "Time",
}
_WRAPPERS = {0x1E: "Array", 0x23: "Nullable", 0x26: "LowCardinality"}
_DECIMALS = {0x19: 9, 0x1A: 18, 0x1B: 38, 0x1C: 76}  # Decimal32..256: the widest precision each holds
_INTERVALS = ("Nanosecond", "Microsecond", "Millisecond", "Second", "Minute", "Hour", "Day", "Week", "Month",
              "Quarter", "Year")
_PLAIN_TEXT = re.compile(r"[A-Za-z0-9_/+\-. :]*")  # a zone or enum name quoted as is (no quote, backslash, control)


def type_name_of(reader: _Reader) -> str:
    """One binary-encoded type, named as ClickHouse names it; TextTypesNeeded for the rare types whose names
    this does not rebuild (named tuples, enums or zones with quotes, aggregate functions with parameters...)."""
    code = reader.byte()
    if code in _BINARY_NAMES:
        return _BINARY_NAMES[code]
    if code in _WRAPPERS:
        return f"{_WRAPPERS[code]}({type_name_of(reader)})"
    if code == 0x12:
        return f"DateTime({_quoted(reader.string())})"
    if code in (0x13, 0x14, 0x34):
        precision = reader.byte()
        if code == 0x34:
            return f"Time64({precision})"
        return f"DateTime64({precision}, {_quoted(reader.string())})" if code == 0x14 else f"DateTime64({precision})"
    if code == 0x16:
        return f"FixedString({reader.uvarint()})"
    if code in _DECIMALS:
        precision, scale = reader.byte(), reader.byte()
        return f"Decimal({precision}, {scale})"
    if code in (0x17, 0x18):
        width = 1 if code == 0x17 else 2
        values = []
        for _ in range(reader.uvarint()):
            name = _quoted(reader.string())
            values.append(f"{name} = {int.from_bytes(reader.take(width), 'little', signed=True)}")
        return f"Enum{8 * width}({', '.join(values)})"
    if code == 0x1F:
        return f"Tuple({', '.join(type_name_of(reader) for _ in range(reader.uvarint()))})"
    if code == 0x27:
        return f"Map({type_name_of(reader)}, {type_name_of(reader)})"
    if code == 0x22:
        kind = reader.byte()
        if kind < len(_INTERVALS):
            return f"Interval{_INTERVALS[kind]}"
    if code == 0x2E:
        function = reader.string().decode()
        if reader.uvarint() == 0 and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", function):
            arguments = ", ".join(type_name_of(reader) for _ in range(reader.uvarint()))
            return f"SimpleAggregateFunction({function}, {arguments})"
    raise TextTypesNeeded(f"binary type code {code:#x}")


def _quoted(text: bytes) -> str:
    decoded = text.decode("utf-8", "replace")
    if not _PLAIN_TEXT.fullmatch(decoded):
        raise TextTypesNeeded("a name ClickHouse would escape")
    return f"'{decoded}'"


class _Reader:
    def __init__(self, data: bytes):
        self.data, self.pos = data, 0

    @property
    def done(self) -> bool:
        return self.pos >= len(self.data)

    def uvarint(self) -> int:
        value = shift = 0
        while True:
            byte = self.data[self.pos]
            self.pos += 1
            value |= (byte & 0x7F) << shift
            if byte < 0x80:
                return value
            shift += 7

    def string(self) -> bytes:
        size = self.uvarint()
        self.pos += size
        return self.data[self.pos - size:self.pos]

    def byte(self) -> int:
        return self.take(1)[0]

    def take(self, size: int) -> bytes:
        self.skip(size)
        return self.data[self.pos - size:self.pos]

    def uint64(self) -> int:
        self.pos += 8
        return struct.unpack_from("<Q", self.data, self.pos - 8)[0]

    def skip(self, size: int) -> None:
        if self.pos + size > len(self.data):
            raise QueryError(NOT_IMPLEMENTED, "truncated Native data from the engine")
        self.pos += size


def _string(value: bytes) -> bytes:
    """A Native string: its length as a varint, then its bytes."""
    size, prefix = len(value), bytearray()
    while True:
        prefix.append((size & 0x7F) | (0x80 if size > 0x7F else 0))
        size >>= 7
        if not size:
            return bytes(prefix) + value


def _parse_type(text: str) -> tuple[str, list]:
    """`Map(String, Array(UInt8))` -> ("Map", [("String", []), ("Array", [("UInt8", [])])])."""
    text = text.strip()
    if "(" not in text:
        return text, []
    name, inner = text[: text.index("(")], text[text.index("(") + 1: text.rindex(")")]
    return name, [_parse_type(part) for part in _split_arguments(inner)]


def _split_arguments(text: str) -> list[str]:
    parts, depth, quoted, start = [], 0, False, 0
    for i, char in enumerate(text):
        if char == "'" and (i == 0 or text[i - 1] != "\\"):
            quoted = not quoted
        elif not quoted and char in "([":
            depth += 1
        elif not quoted and char in ")]":
            depth -= 1
        elif not quoted and char == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return parts


def _element_type(argument: tuple[str, list]) -> tuple[str, list]:
    """A named tuple element `name Type` -> Type."""
    name, children = argument
    return _parse_type(name.split(" ", 1)[1] + _rebuild(children)) if " " in name.strip() else argument


def _rebuild(children: list) -> str:
    return "(" + ", ".join(n + _rebuild(c) for n, c in children) + ")" if children else ""


def _skip(reader: _Reader, type_: tuple[str, list], rows: int) -> None:
    name, arguments = type_
    if name in _FIXED or _INTERVAL.match(name):
        reader.skip(rows * _FIXED.get(name, 8))
    elif name == "Decimal":
        precision = int(arguments[0][0])
        reader.skip(rows * (4 if precision <= 9 else 8 if precision <= 18 else 16 if precision <= 38 else 32))
    elif name in ("String", "JSONString"):
        for _ in range(rows):
            reader.skip(reader.uvarint())
    elif name == "FixedString":
        reader.skip(rows * int(arguments[0][0]))
    elif name == "Nullable":
        reader.skip(rows)
        _skip(reader, arguments[0], rows)
    elif name in ("Array", "Map"):
        total = 0
        for _ in range(rows):
            total = reader.uint64()
        for element in ([arguments[0]] if name == "Array" else arguments):
            _skip(reader, element, total)
    elif name == "Tuple":
        for element in arguments:
            _skip(reader, _element_type(element), rows)
    elif name == "LowCardinality":
        _skip_low_cardinality(reader, arguments[0], rows)
    elif name == "SimpleAggregateFunction":
        _skip(reader, arguments[-1], rows)
    else:
        raise QueryError(NOT_IMPLEMENTED, f"type {name} cannot be sent in Native format by this interface; "
                                           "convert it in the query (e.g. toString, finalizeAggregation, -Merge)")


def _skip_prefixes(reader: _Reader, type_: tuple[str, list]) -> None:
    """A column's state prefixes come before all its data: one keys version per LowCardinality inside it,
    even deep in a Map, Array or Tuple."""
    name, arguments = type_
    if name == "LowCardinality":
        reader.uint64()
    elif name in ("Array", "Map", "Nullable", "Tuple", "SimpleAggregateFunction"):
        for argument in arguments if name != "SimpleAggregateFunction" else arguments[-1:]:
            _skip_prefixes(reader, _element_type(argument) if name == "Tuple" else argument)


def _skip_low_cardinality(reader: _Reader, inner: tuple[str, list], rows: int) -> None:
    if rows == 0:
        return
    index_type = reader.uint64() & 0xFF
    keys = reader.uint64()
    _skip(reader, inner[1][0] if inner[0] == "Nullable" else inner, keys)
    reader.skip(reader.uint64() * (1 << index_type))
