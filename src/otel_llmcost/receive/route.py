"""Routing by trace id: which ingest worker owns a span, and an export split into one export per worker.

Every span of a trace must reach the same worker (its trace buffer attributes the trace, its spool holds
it): the owner is the trace id's CRC-32 modulo the workers; a span without a trace id goes to worker 0,
whose validation rejects it as one process would.

The split reads the protobuf wire format itself, without decoding spans: for each span it reads only its
length and trace id, and copies its bytes unchanged into the export of the owning worker, under copies of
its resource and scope. Decoding the export instead (upb objects per span, then a copy of each) cost
7-17 µs per span on this machine, the scan about 1: the listener process must stay far cheaper than the
workers it feeds. A body the scan cannot follow (a truncated or odd encoding) is decoded and split the
slow way, which also reports a body that is no protobuf export at all as DecodeError.
"""

from __future__ import annotations

import zlib

from otel_llmcost.decode import parse_protobuf

_LEN = 2  # the wire type of strings, bytes and messages
# Field tags (number << 3 | wire type) of what the scan looks into.
_RESOURCE_SPANS = _SCOPE_SPANS = _SPANS = 2  # numbers in ResourceSpans and ScopeSpans
_TRACE_ID_TAG = 1 << 3 | _LEN


class _Unusual(ValueError):
    """An encoding the scan does not follow (it is not necessarily invalid)."""


def owner(trace_id: bytes, workers: int) -> int:
    """The worker (0 <= owner < workers) every span of this trace goes to."""
    return zlib.crc32(trace_id) % workers if trace_id else 0


def split_by_trace(body: bytes, workers: int) -> list[bytes | None]:
    """A binary ExportTraceServiceRequest as one export per worker (None: no span of it goes to that
    worker). Raises DecodeError when the body is not an export."""
    if workers == 1:
        return [body]
    try:
        return _split_wire(body, workers)
    except (_Unusual, IndexError):
        return _split_decoded(body, workers)


def _split_wire(body: bytes, workers: int) -> list[bytes | None]:
    out: list[list[bytes]] = [[] for _ in range(workers)]
    for tag, _, start, end in _fields(body, 0, len(body)):
        if tag != (1 << 3 | _LEN):  # resource_spans is the request's only field
            raise _Unusual("unknown field")
        resource_head: list[bytes] = []  # every field but scope_spans: copied into each worker's part
        scopes: list[list[list[bytes]]] = []  # per scope: per worker, its spans' bytes (tag included)
        scope_heads: list[bytes] = []
        for rtag, rfield, rstart, rend in _fields(body, start, end):
            if rtag != (_SCOPE_SPANS << 3 | _LEN):
                resource_head.append(body[rfield:rend])
                continue
            head: list[bytes] = []
            spans: list[list[bytes]] = [[] for _ in range(workers)]
            for stag, sfield, sstart, send in _fields(body, rstart, rend):
                if stag != (_SPANS << 3 | _LEN):
                    head.append(body[sfield:send])
                    continue
                spans[owner(_trace_id(body, sstart, send), workers)].append(body[sfield:send])
            scope_heads.append(b"".join(head))
            scopes.append(spans)
        for worker in range(workers):
            parts = [b"".join(resource_head)]
            for scope_head, spans in zip(scope_heads, scopes, strict=True):
                if spans[worker]:
                    parts.append(_wrapped(_SCOPE_SPANS, scope_head + b"".join(spans[worker])))
            if len(parts) > 1:
                out[worker].append(_wrapped(_RESOURCE_SPANS >> 1, b"".join(parts)))  # field 1
    owners = [worker for worker, parts in enumerate(out) if parts]
    if len(owners) == 1:  # one worker owns every span: the export goes on as it came
        whole: list[bytes | None] = [None] * workers
        whole[owners[0]] = body
        return whole
    return [b"".join(parts) if parts else None for parts in out]


def _fields(body: bytes, position: int, end: int):
    """(tag, field start, value start, value end) of each length-delimited field in body[position:end]."""
    while position < end:
        field_start = position
        tag, position = _varint(body, position)
        if tag & 7 != _LEN:
            raise _Unusual("a scalar field where only messages and strings are expected")
        length, position = _varint(body, position)
        if position + length > end:
            raise _Unusual("a field runs past its message")
        yield tag, field_start, position, position + length
        position += length


def _trace_id(body: bytes, start: int, end: int) -> bytes:
    if body[start] == _TRACE_ID_TAG and start + 1 < end and body[start + 1] < 0x80:  # first, as encoders write it
        return body[start + 2:start + 2 + body[start + 1]]
    position = start
    while position < end:
        tag, position = _varint(body, position)
        wire = tag & 7
        if wire == _LEN:
            length, position = _varint(body, position)
            if tag == _TRACE_ID_TAG:
                return body[position:position + length]
            position += length
        elif wire == 0:
            _, position = _varint(body, position)
        elif wire == 1:
            position += 8
        elif wire == 5:
            position += 4
        else:
            raise _Unusual("group fields")
    return b""


def _varint(body: bytes, position: int) -> tuple[int, int]:
    byte = body[position]
    if byte < 0x80:
        return byte, position + 1
    value, shift = byte & 0x7F, 7
    while True:
        position += 1
        byte = body[position]
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, position + 1
        shift += 7
        if shift > 63:
            raise _Unusual("varint too long")


def _wrapped(field: int, value: bytes) -> bytes:
    return _encode_varint(field << 3 | _LEN) + _encode_varint(len(value)) + value


def _encode_varint(value: int) -> bytes:
    out = bytearray()
    while value >= 0x80:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _split_decoded(body: bytes, workers: int) -> list[bytes | None]:
    """The slow split, through the protobuf library."""
    request = parse_protobuf(body)
    splits = [type(request)() for _ in range(workers)]
    for resource_spans in request.resource_spans:
        copies: dict[int, object] = {}
        for scope_spans in resource_spans.scope_spans:
            by_worker: dict[int, list] = {}
            for span in scope_spans.spans:
                by_worker.setdefault(owner(span.trace_id, workers), []).append(span)
            for worker, spans in by_worker.items():
                target = copies.get(worker)
                if target is None:
                    target = copies[worker] = splits[worker].resource_spans.add()
                    target.resource.CopyFrom(resource_spans.resource)
                    target.schema_url = resource_spans.schema_url
                scope_copy = target.scope_spans.add()  # type: ignore[attr-defined]
                scope_copy.scope.CopyFrom(scope_spans.scope)
                scope_copy.schema_url = scope_spans.schema_url
                scope_copy.spans.extend(spans)
    return [split.SerializeToString() if split.resource_spans else None for split in splits]
