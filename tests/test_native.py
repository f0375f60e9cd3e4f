"""store/native.py writes Decimal columns itself: its blocks must be the very bytes clickhouse-driver's
own block writer makes, for every column type our tables use."""

from __future__ import annotations

import copy
from decimal import Decimal

from clickhouse_driver.block import ColumnOrientedBlock
from clickhouse_driver.bufferedwriter import CompressedBufferedWriter
from clickhouse_driver.streams.native import BlockOutputStream

from otel_llmcost.store.native import _CONTEXT, _Chunks, encode_native

COLUMN_TYPES = (
    ("cost", "Nullable(Decimal(38, 12))"), ("multiplier", "Decimal(18, 9)"), ("small", "Decimal(9, 2)"),
    ("name", "LowCardinality(String)"), ("text", "String"), ("count", "UInt64"),
    ("tags", "Array(LowCardinality(String))"), ("attributes", "Map(LowCardinality(String), String)"),
    ("at", "DateTime64(9)"),
)


def _driver(columns: list[list]) -> bytes:
    chunks = _Chunks()
    out = CompressedBufferedWriter(chunks, 1 << 20)
    block = ColumnOrientedBlock(columns_with_types=list(COLUMN_TYPES), data=columns, types_check=False)
    BlockOutputStream(out, _CONTEXT).write(block)
    return b"".join(chunks.parts)


def test_blocks_are_the_bytes_clickhouse_driver_writes():
    rows = [
        (Decimal("0.000000000001"), Decimal(1), Decimal("1.25"), "a", "x", 0, [], {}, 0),
        (None, Decimal("-2.5"), Decimal("-0.01"), "é", "ü", 2 ** 64 - 1, ["t"], {"k": "v"}, 10 ** 18),
        (Decimal("12345678901234567890.123456789012"), Decimal("999999999.999999999"), Decimal("9999999.99"),
         "a", "", 5, ["t", "u"], {"k": "w", "é": "1"}, 1),
        (Decimal(0), Decimal(1), Decimal(0), "b", "y", 1, [], {}, 2),
        (Decimal("-12345678901234567890.123456789012"), Decimal("1.000000000"), Decimal("0.10"), "a", "z", 7, [],
         {}, 3),
        (Decimal("3.100000000000"), Decimal(1), Decimal("0.1"), "c", "w", 8, [], {"k": "v"}, 4),
    ]
    columns = [list(column) for column in zip(*rows, strict=True)]
    assert encode_native(COLUMN_TYPES, copy.deepcopy(columns)) == _driver(copy.deepcopy(columns))
    many = [list(column) for column in zip(*(rows * 100), strict=True)]
    assert encode_native(COLUMN_TYPES, copy.deepcopy(many)) == _driver(copy.deepcopy(many))
