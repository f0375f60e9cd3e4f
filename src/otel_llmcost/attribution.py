"""Attribution stage: who and what each LLM call is charged to, and which try of the call it was.

Each dimension (tenant, environment, service, feature, user, session, request id) is read through its
configured attribute keys from the call's own span, then its ancestors nearest first, then the resource.
`request_id` defaults to the trace id.

`attempt` numbers the tries of one logical call within a request. Unless the app states it (the
`attempt` keys), tries are the calls of the same request with the same parent span, provider, operation and
requested model, in start order: a call right after a failed one is its retry (attempt + 1), a call after a
successful one starts again at attempt 1.
"""

from __future__ import annotations

from typing import Mapping, Sequence

from otel_llmcost.decode import AttributeFilter
from otel_llmcost.model import Attribution, LlmCall, SpanRecord

_MAX_DEPTH = 256  # guards against parent cycles in malformed traces
_DIMENSIONS = ("tenant_id", "environment", "service_name", "feature", "user_id", "session_id", "request_id")


class Attributor:
    def __init__(self, keys: Mapping[str, tuple[str, ...]]):
        self._keys = {dimension: tuple(keys[dimension]) for dimension in (*_DIMENSIONS, "attempt")}
        self.wanted = AttributeFilter(frozenset(k for ks in self._keys.values() for k in ks))

    def attribute(
        self, calls: Sequence[tuple[SpanRecord, LlmCall]], spans_by_id: Mapping[str, SpanRecord]
    ) -> list[Attribution]:
        """Attribution for each (span, call) of one trace; spans_by_id holds every known span of it."""
        found = [self._dimensions(span, spans_by_id) for span, _ in calls]
        attempts = self._attempts(calls, found)
        return [
            Attribution(
                tenant_id=values["tenant_id"],
                environment=values["environment"],
                service_name=values["service_name"],
                feature=values["feature"],
                user_id=values["user_id"],
                session_id=values["session_id"],
                request_id=values["request_id"] or span.trace_id,
                attempt=attempt,
            )
            for (span, _), values, attempt in zip(calls, found, attempts)
        ]

    def _dimensions(self, span: SpanRecord, spans_by_id: Mapping[str, SpanRecord]) -> dict[str, str]:
        chain = [span]
        parent_id = span.parent_span_id
        while parent_id and len(chain) < _MAX_DEPTH:
            parent = spans_by_id.get(parent_id)
            if parent is None:
                break
            chain.append(parent)
            parent_id = parent.parent_span_id
        values = {}
        for dimension, keys in self._keys.items():
            values[dimension] = _lookup(chain, span.resource, keys)
        return values

    @staticmethod
    def _attempts(calls: Sequence[tuple[SpanRecord, LlmCall]], found: list[dict[str, str]]) -> list[int]:
        attempts = [1] * len(calls)
        order = sorted(range(len(calls)), key=lambda i: calls[i][0].start_ns)
        previous: dict[tuple, tuple[int, bool]] = {}  # logical call -> (attempt, failed) of its last try
        for index in order:
            span, call = calls[index]
            stated = found[index]["attempt"]
            if stated.isdigit() and int(stated) > 0:
                attempts[index] = int(stated)
                continue
            key = (found[index]["request_id"], span.parent_span_id, call.provider, call.operation, call.request_model)
            last = previous.get(key)
            attempts[index] = last[0] + 1 if last is not None and last[1] else 1
            previous[key] = (attempts[index], bool(call.error_type))
        return attempts


def _lookup(chain: list[SpanRecord], resource: Mapping, keys: tuple[str, ...]) -> str:
    for span in chain:
        attributes = span.attributes
        for key in keys:
            value = attributes.get(key)
            if value is not None and value != "":
                return str(value)
    for key in keys:
        value = resource.get(key)
        if value is not None and value != "":
            return str(value)
    return ""
