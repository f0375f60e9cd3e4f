"""Native re-laid at a client's revision decodes, by clickhouse-driver's reader, to what chDB's bytes say."""

from __future__ import annotations

import pytest
from clickhouse_driver.bufferedreader import BufferedSocketReader
from clickhouse_driver.streams.native import BlockInputStream

from otel_llmcost.query import native
from otel_llmcost.query.errors import QueryError

RICH = (
    "SELECT toDecimal128(number / 3, 12) AS d, toDateTime64('2026-01-01 00:00:00.123', 3, 'UTC') AS t,"
    " range(number % 4) AS arr, map('a', number, 'b', 2) AS m, if(number % 2, NULL, toString(number)) AS n,"
    " toLowCardinality(toString(number % 3)) AS lc, toLowCardinality(if(number % 2, NULL, 'x')) AS lcn,"
    " (number, 'a') AS tup, CAST((1, 'z'), 'Tuple(a UInt8, b String)') AS named, generateUUIDv4() AS u,"
    " toIPv6('::1') AS ip, CAST('b', 'Enum8(\\'a\\' = 1, \\'b\\' = 2)') AS e, toFixedString('ab', 2) AS fs,"
    " number % 2 = 0 AS b, [[number], [1, 2]] AS nested, NULL AS nothing, toInt256(number) AS big,"
    " CAST(map('k', [number]), 'Map(LowCardinality(String), Array(UInt64))') AS ml, toDate32('2026-01-02') AS d32"
    " FROM numbers(70000)"
)


class _Bytes:
    """A socket for clickhouse-driver's reader: hands out a byte string."""

    def __init__(self, data: bytes):
        self._data, self._pos = data, 0

    def recv_into(self, buffer, size=0):
        chunk = self._data[self._pos:self._pos + len(buffer)]
        buffer[:len(chunk)] = chunk
        self._pos += len(chunk)
        return len(chunk)


class _Server:
    def __init__(self, revision: int):
        self.used_revision = self.revision = revision
        self.timezone = "UTC"

    def get_timezone(self) -> str:
        return "UTC"


def decode(data: bytes, revision: int) -> list:
    from otel_llmcost.store.native import _context  # the store's own settings for clickhouse-driver

    context = _context()
    context.server_info = _Server(revision)
    reader = BufferedSocketReader(_Bytes(data), 1 << 16)
    stream = BlockInputStream(reader, context)
    types, rows = None, []
    while True:
        try:
            block = stream.read()
        except EOFError:  # the end of the answer (a block cut short would lose rows: counted below)
            return [types, rows]
        types = block.columns_with_types
        rows.extend(block.get_rows())


def test_every_common_type_decodes_the_same_at_54460(session):
    original = session.run(RICH, "Native")
    relaid = native.at_revision(original, 54460)
    assert relaid.startswith(b"\x01\x00\x02\xff\xff\xff\xff\x00")
    assert len(relaid) > len(original)
    first = decode(original, 0)
    again = decode(relaid, 54460)
    assert len(first[1]) == 70000 and first == again


def test_revisions_below_custom_serialization_get_block_info_only(session):
    original = session.run("SELECT 1 AS x", "Native")
    assert native.at_revision(original, 54405) == b"\x01\x00\x02\xff\xff\xff\xff\x00" + original
    assert native.at_revision(original, 0) == original
    assert native.at_revision(b"", 54460) == b""  # an empty result is an empty body


def test_aggregate_states_are_refused_clearly(session):
    original = session.run("SELECT quantilesTDigestState(0.5)(number) AS q FROM numbers(10)", "Native")
    with pytest.raises(QueryError, match="AggregateFunction cannot be sent"):
        native.at_revision(original, 54460)


ZONED = ("SELECT toDateTime('2026-01-01 10:00:00', 'Europe/Berlin') AS berlin, toDateTime(0, 'UTC') AS utc,"
         " toDateTime64('2026-01-01 10:00:00', 3, 'Asia/Tokyo') AS tokyo, [toDateTime(0, 'UTC')] AS arr, number AS n"
         " FROM numbers(3)")


def test_a_date_time_keeps_its_zone_at_the_revision_grafanas_driver_asks_for(session):
    """chDB's revision-0 Native writes DateTime('Europe/Berlin') as DateTime; ClickHouse sends the zone to a
    client from revision 54337 on, and the re-laid bytes do too: the same type names and wall-clock times."""
    original = session.run(ZONED, "Native")
    assert b"\x08DateTime" in original and b"Europe/Berlin" not in original  # what chDB writes
    types = [row.split("\t")[1] for row in session.run(f"DESCRIBE TABLE ({ZONED})", "TSVRaw").decode().splitlines()]
    asked = []

    def result_types() -> list[str]:
        asked.append(True)
        return types

    relaid = native.at_revision(original, 54460, result_types)
    decoded_types, rows = decode(relaid, 54460)
    assert [name for _, name in decoded_types] == ["DateTime('Europe/Berlin')", "DateTime('UTC')",
                                                   "DateTime64(3, 'Asia/Tokyo')", "Array(DateTime('UTC'))", "UInt64"]
    assert asked == [True]  # once per answer, not per block or column
    berlin = rows[0][0]
    assert (berlin.hour, str(berlin.tzinfo)) == (10, "Europe/Berlin")  # the wall-clock time in its zone
    assert decode(native.at_revision(original, 54460), 54460)[0][0][1] == "DateTime"  # without the types: as is
    assert native.at_revision(original, 54336, result_types) == native.at_revision(original, 54336)  # older client
