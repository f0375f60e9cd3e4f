"""Native re-laid at a client's revision decodes, by clickhouse-driver's reader, to what chDB's bytes say."""

from __future__ import annotations

import json

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


# Every type native.py names from its binary encoding, top-level and nested, zones included (and a few it does
# not: named tuples, an enum name with a quote, whose answers are asked for again with their types as text).
TYPED = (
    "SELECT toDecimal32(number, 2) AS d32, toDecimal64(1, 4) AS d64, toDecimal128(1, 10) AS d128,"
    " toDecimal256(1, 20) AS d256, CAST('b', 'Enum8(\\'a\\' = 1, \\'b\\' = -2)') AS e8,"
    " CAST('a', 'Enum16(\\'a\\' = 1000)') AS e16, toIntervalSecond(1) AS i_s, toIntervalYear(1) AS i_y,"
    " true AS b, toBFloat16(1) AS bf, (number, 'a') AS tup, map('a', number) AS m, toLowCardinality('a') AS lc,"
    " toNullable(number) AS n, [toDateTime64(1, 3, 'Asia/Tokyo')] AS arr, toDateTime64(1, 3) AS dt64,"
    " toFixedString('ab', 2) AS fs, toUUID('00000000-0000-0000-0000-000000000001') AS u, toIPv4('1.2.3.4') AS ip4,"
    " toIPv6('::1') AS ip6, toDate32('2020-01-01') AS d, toDate(number) AS dd, NULL AS nothing, [] AS empty,"
    " toDateTime(number, 'Europe/Berlin') AS berlin, toDateTime(number) AS bare, toDateTime64(number, 6, 'UTC') AS t6,"
    " toLowCardinality(toNullable('x')) AS lcn, map('k', [toDateTime(0, 'UTC')]) AS mz, toInt8(-1) AS i8,"
    " toUInt128(1) AS u128, toInt256(1) AS i256, 1.5 AS f, toFloat32(1) AS f32,"
    " CAST(number, 'SimpleAggregateFunction(sum, UInt64)') AS s, [(1, toDateTime(0, 'UTC'))] AS tz_in_tuple,"
    " toDateTime(number, 'America/Argentina/Buenos_Aires') AS ba FROM numbers(5)"
)
TEXT_ONLY = ("SELECT CAST((1, 'a'), 'Tuple(a UInt8, b String)') AS named",
             "SELECT CAST('it''s', 'Enum8(\\'it\\\\\\'s\\' = 1)') AS quoted")
BINARY = " SETTINGS output_format_native_encode_types_in_binary_format = 1"


def _described(session, sql: str) -> list[str]:
    return [json.loads(line)["type"] for line in session.run(f"DESCRIBE TABLE ({sql})", "JSONEachRow").splitlines()]


@pytest.mark.parametrize("revision", [54460, 54405, 54337])
def test_binary_type_encoding_relays_what_a_describe_of_the_query_names(session, revision):
    """The executor asks a Native SELECT for binary-encoded types (they keep the zone) instead of a DESCRIBE of
    the statement: the re-laid answer is the very bytes the DESCRIBE's types gave."""
    types = _described(session, TYPED)
    assert "DateTime('Europe/Berlin')" in types and "SimpleAggregateFunction(sum, UInt64)" in types
    by_text = native.at_revision(session.run(TYPED, "Native"), revision, lambda: types)
    by_binary = native.at_revision(session.run(TYPED + BINARY, "Native"), revision, binary_types=True)
    assert by_binary == by_text
    assert b"\x06berlin\x19DateTime('Europe/Berlin')" in by_binary


@pytest.mark.parametrize("sql", TEXT_ONLY)
def test_binary_types_it_cannot_name_ask_for_text(session, sql):
    with pytest.raises(native.TextTypesNeeded):
        native.at_revision(session.run(sql + BINARY, "Native"), 54460, binary_types=True)
