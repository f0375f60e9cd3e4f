"""Columnar batch -> ClickHouse Native format bytes, encoded by clickhouse-driver's own column writers.

The ClickHouse server backend sends the very same encoding over the native protocol; the embedded chDB
backend loads these bytes with `FORMAT Native`. So every chDB insert also proves the server path's type
handling (Decimal, Nullable, LowCardinality, DateTime64, Bool) against a real ClickHouse engine.
"""

from __future__ import annotations

from collections.abc import Sequence

from clickhouse_driver.block import ColumnOrientedBlock
from clickhouse_driver.bufferedwriter import CompressedBufferedWriter
from clickhouse_driver.context import Context
from clickhouse_driver.streams.native import BlockOutputStream

from otel_llmcost.errors import StoreError
from otel_llmcost.store.failures import is_encoding_error

_BUFFER_BYTES = 1 << 20


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


def _context() -> Context:
    context = Context()
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


def encode_native(column_types: tuple[tuple[str, str], ...], columns: list[list]) -> bytes:
    """Encode `columns` (one list per column, converted in place) as one Native block."""
    chunks = _Chunks()
    writer = CompressedBufferedWriter(chunks, _BUFFER_BYTES)
    block = ColumnOrientedBlock(columns_with_types=list(column_types), data=columns, types_check=False)
    BlockOutputStream(writer, _context()).write(block)
    return b"".join(chunks.parts)


def native_block(column_types: Sequence[tuple[str, str]], columns: list[list]) -> bytes:
    """encode_native(), with values the columns cannot hold refused for good (StoreError, not retryable)."""
    try:
        return encode_native(tuple(column_types), columns)
    except Exception as exc:
        if is_encoding_error(exc):
            raise StoreError(f"rows cannot be encoded: {exc}", retryable=False) from exc
        raise
