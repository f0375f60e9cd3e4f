"""Columnar batch -> ClickHouse Native format bytes.

Decimal columns are written here (each distinct value converted once, by one multiplication: half of a
usage row's encoding went to clickhouse-driver converting every Decimal through str); every other column by
clickhouse-driver's own column writers, into the same buffer. The bytes are those clickhouse-driver writes
(tests/test_native.py compares them), so the server backend (the driver's encoding over the native protocol)
and the embedded chDB backend (these bytes with `FORMAT Native`) store the same values; every chDB insert
checks this encoding against a real ClickHouse engine. Measured by bench/stages.py; our own LowCardinality
and Map writers were tried and did not pay (writing the strings is most of their cost either way).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from decimal import Context, Decimal, localcontext

from clickhouse_driver.bufferedwriter import CompressedBufferedWriter
from clickhouse_driver.columns.service import write_column
from clickhouse_driver.context import Context as DriverContext
from clickhouse_driver.varint import write_varint
from clickhouse_driver.writer import write_binary_str

_BUFFER_BYTES = 1 << 20
_DECIMAL = re.compile(r"(Nullable\()?Decimal\((\d+),\s*(\d+)\)\)?$")
Writer = Callable[[list, CompressedBufferedWriter], None]


class _ServerInfo:
    # Revision 0 makes the block writer emit the plain Native *format* (no protocol block-info header).
    used_revision = 0
    revision = 0
    timezone = "UTC"

    def get_timezone(self) -> str:
        return "UTC"


class _Chunks:
    """Stands in for a socket: the buffered writer hands it each filled buffer."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.parts.append(bytes(data))


def _context() -> DriverContext:
    context = DriverContext()
    context.settings = {}
    context.client_settings = {
        "strings_as_bytes": False,
        "strings_encoding": "utf-8",
        "use_numpy": False,
        "input_format_null_as_default": False,
        "opentelemetry_traceparent": None,
        "opentelemetry_tracestate": "",
        "server_side_params": False,
    }
    context.server_info = _ServerInfo()
    return context


_CONTEXT = _context()


def encode_native(column_types: tuple[tuple[str, str], ...], columns: list[list]) -> bytes:
    """Encode `columns` (one list per column; the driver may convert its lists in place) as one Native block."""
    rows = len(columns[0]) if columns else 0
    if len(columns) != len(column_types) or any(len(column) != rows for column in columns):
        raise ValueError(f"{len(columns)} columns of lengths {sorted({len(c) for c in columns})} for "
                         f"{len(column_types)} column types: every column needs one value per row")
    chunks = _Chunks()
    out = CompressedBufferedWriter(chunks, _BUFFER_BYTES)
    write_varint(len(column_types), out)
    write_varint(rows, out)
    for (name, ch_type), items in zip(column_types, columns, strict=True):
        write_binary_str(name, out)
        write_binary_str(ch_type, out)
        writer = _writer(ch_type)
        if writer is not None:
            writer(items, out)
        else:
            write_column(_CONTEXT, name, ch_type, items, out, types_check=False)
    out.flush()
    return b"".join(chunks.parts)


def _writer(ch_type: str) -> Writer | None:
    """Our writer of a column of this type, None for the driver's."""
    if match := _DECIMAL.match(ch_type):
        return _decimal_writer(int(match.group(2)), int(match.group(3)), nullable=bool(match.group(1)))
    return None


def _decimal_writer(precision: int, scale: int, nullable: bool) -> Writer:
    """Decimal(P, S) values as their integers of 10**-S units, in 4, 8, 16 or 32 bytes by P. As
    clickhouse-driver: scaled at the type's full precision, digits beyond the scale cut off (the row checks
    keep every value within its type, so nothing is cut in practice)."""
    width, digits = next((width, digits) for width, digits in ((4, 9), (8, 18), (16, 38), (32, 76))
                         if precision <= digits)
    unit = Decimal(10) ** scale
    context = Context(prec=digits)
    null = bytes(width)

    def write(items: list, out: CompressedBufferedWriter) -> None:
        if nullable:
            out.write(bytes([item is None for item in items]))
        encoded: dict[Decimal, bytes] = {}  # most values repeat (zero costs of unused kinds, the multiplier)
        parts = []
        with localcontext(context):
            for item in items:
                if item is None and nullable:
                    parts.append(null)
                    continue
                part = encoded.get(item)
                if part is None:
                    part = encoded[item] = int(item * unit).to_bytes(width, "little", signed=True)
                parts.append(part)
        out.write(b"".join(parts))

    return write
