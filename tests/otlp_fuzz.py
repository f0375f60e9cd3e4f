"""Inputs for tests/test_fuzz.py: hypothesis strategies for OTLP attribute values, ids and byte edits, and
protobuf written by hand where protobuf's own encoder refuses (deep nesting, invalid UTF-8)."""

from __future__ import annotations

import os

from hypothesis import strategies as st
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

# Keys the receiver reads, where a mutated value matters most; plus any key at all.
READ_KEYS = ["gen_ai.usage.input_tokens", "gen_ai.usage.output_tokens", "gen_ai.usage.cache_read.input_tokens",
             "gen_ai.request.model", "gen_ai.response.model", "gen_ai.provider.name", "gen_ai.operation.name",
             "llm.token_count.prompt", "llm.model_name", "tenant.id", "feature.name", "request.id",
             "gen_ai.request.service_tier", "ai.telemetry.metadata.plan", "langfuse.trace.metadata",
             "metadata", "langfuse.trace.tags", "traceloop.association.properties.tenant_id", "error.type"]
ATTEMPT_KEYS = ("llm.attempt", "otel_llmcost.attempt")
UINT64, UINT16 = 2**64, 2**16


SCALARS = st.one_of(
    st.integers(min_value=-2**63, max_value=2**63 - 1), st.floats(), st.booleans(), st.binary(max_size=40),
    st.text(max_size=40), st.sampled_from(["", "x" * 100_000, "12", " 7 ", "12.0", "-1", "²", "１２", "٣", "null",
                                           '{"a": [1, {"b": null}]}', "[[[[[[]]]]]]", "\x00", "\ud7ff\ue000"]),
    # Past what a column holds (UInt64 counts, UInt16 attempt): clamped or dead-lettered, never blocking.
    st.sampled_from([str(UINT64), "9" * 20, float(UINT64), 1e20, 1e300, UINT16 - 1, UINT16, 70_000, str(UINT16)]))
VALUES = st.recursive(SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=10), inner, max_size=4)), max_leaves=16)


def any_value(value) -> AnyValue:
    if isinstance(value, bool):
        return AnyValue(bool_value=value)
    if isinstance(value, int):
        return AnyValue(int_value=value)
    if isinstance(value, float):
        return AnyValue(double_value=value)
    if isinstance(value, bytes):
        return AnyValue(bytes_value=value)
    if isinstance(value, list):
        return AnyValue(array_value={"values": [any_value(item) for item in value]})
    if isinstance(value, dict):
        return AnyValue(kvlist_value={"values": [KeyValue(key=k, value=any_value(v)) for k, v in value.items()]})
    return AnyValue(string_value=value)


MUTANT_ATTRIBUTES = st.dictionaries(st.one_of(st.sampled_from(READ_KEYS + list(ATTEMPT_KEYS)), st.text(max_size=20)),
                                    VALUES, min_size=1, max_size=6)
BAD_IDS = st.sampled_from([b"", b"\x00" * 16, b"\x01" * 15, b"\x01" * 17, os.urandom(16)])
BAD_SPAN_IDS = st.sampled_from([b"", b"\x00" * 8, b"\x01" * 7, b"\x01" * 9, os.urandom(8)])


TRANSPORTS = st.sampled_from(["protobuf", "json", "grpc"])

# Span fields at their types' boundaries (issue 16 item 3): start times at 1970, where the store's times end
# (2100, 2106), DateTime64(9)'s end (2262-04-11), DateTime64's (2300) and OTLP's (2554); counts at 2**32,
# 2**63 and 2**64, the largest billed count (1e9) and past it; durations up to OTLP's largest time.
_NS = 10 ** 9
BOUNDARY_STARTS = st.sampled_from([1, 4_102_444_800 * _NS - 1, 4_102_444_800 * _NS, 2 ** 32 * _NS, 2 ** 63 - 1,
                                   2 ** 63, 10_413_792_000 * _NS, 2 ** 64 - 2, None])  # None: now
BOUNDARY_DURATIONS = st.sampled_from([0, 1, 10 ** 6, None])  # None: up to 2**64 - 1
BOUNDARY_COUNTS = st.sampled_from([0, 10 ** 9, 10 ** 9 + 1, 2 ** 32 - 1, 2 ** 32, 2 ** 63 - 1, str(2 ** 63),
                                   str(2 ** 64 - 1), str(2 ** 64), float(2 ** 64), float("nan"), float("inf"), 1e300])


JSON_IDS = st.one_of(st.integers(), st.text(max_size=40), st.none(), st.booleans(), st.lists(st.integers(), max_size=2),
                     st.sampled_from(["0" * 32, "f" * 31, "F" * 32, "g" * 32, "ab" * 64]))


# Ill-typed OTLP/JSON AnyValues: an int64 out of range, a string where a number belongs, and so on.
JSON_ANY_VALUES = st.one_of(
    st.fixed_dictionaries({"intValue": st.one_of(st.integers(min_value=2**63, max_value=2**70), st.text(max_size=8),
                                                 st.floats(), st.integers(max_value=-2**63 - 1, min_value=-2**70))}),
    st.fixed_dictionaries({"doubleValue": st.one_of(st.text(max_size=8), st.lists(st.integers(), max_size=1))}),
    st.fixed_dictionaries({"stringValue": st.one_of(st.integers(), st.lists(st.integers(), max_size=2))}),
    st.fixed_dictionaries({"boolValue": st.one_of(st.text(max_size=5), st.integers(min_value=2))}),
    st.fixed_dictionaries({"bytesValue": st.text(max_size=10)}),
    st.fixed_dictionaries({"arrayValue": st.one_of(st.text(max_size=5), st.fixed_dictionaries(
        {"values": st.one_of(st.text(max_size=5), st.lists(st.integers(), min_size=1, max_size=2))}))}),
    st.fixed_dictionaries({"kvlistValue": st.fixed_dictionaries({"values": st.lists(
        st.fixed_dictionaries({"key": st.integers(), "value": st.just({"intValue": "1"})}), min_size=1, max_size=2)})}),
)


def nested_json(depth: int) -> bytes:
    """An OTLP/JSON attribute value `depth` arrays deep, as text: json.dumps itself would recurse too deep."""
    return b'{"arrayValue":{"values":[' * depth + b'{"stringValue":"leaf"}' + b"]}}" * depth


def field(number: int, payload: bytes) -> bytes:
    """A length-delimited protobuf field, written by hand: protobuf's own encoder refuses deep nesting."""
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        out.append(value & 0x7F | (0x80 if value > 0x7F else 0))
        value >>= 7
        if not value:
            return bytes(out)


PLACEHOLDER = "\x01NOT-UTF8\x01"


def mutate(body: bytes, edits) -> bytes:
    for kind, at, data in edits:
        at %= len(body) + 1
        if kind == "flip" and at < len(body):
            body = body[:at] + bytes([body[at] ^ (data[0] or 1)]) + body[at + 1:]
        elif kind == "insert":
            body = body[:at] + data + body[at:]
        elif kind == "delete":
            body = body[:at] + body[at + len(data):]
        elif kind == "truncate":
            body = body[:at]
    return body


EDITS = st.lists(st.tuples(st.sampled_from(["flip", "insert", "delete", "truncate"]), st.integers(0, 2**20),
                           st.binary(min_size=1, max_size=8)), min_size=1, max_size=4)
