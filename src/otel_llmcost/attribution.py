"""Attribution stage: who and what each LLM call is charged to, and which try of the call it was.

Each dimension (tenant, environment, service, feature, user, session, request id) is read through its
configured attribute keys, in priority order: for each key, the call's own span, then its ancestors nearest
first, then the resource.
`request_id` defaults to the trace id. Free-form dimensions from every dialect (Vercel
`ai.telemetry.metadata.*`, Traceloop association properties, Langfuse metadata, OpenInference `metadata`)
land in the `metadata` map, nearest span first; tags (Langfuse, OpenInference) in `tags`.

`attempt` numbers the tries of one logical call within a request. Unless the app states it (the
`attempt` keys), tries are the calls of the same request with the same parent span, provider, operation and
requested model, in start order: a call right after a failed one is its retry (attempt + 1), a call after a
successful one starts again at attempt 1.
"""

from __future__ import annotations

import json
from typing import Mapping, Sequence

from otel_llmcost.config import METADATA_JSON_KEYS, METADATA_PREFIXES, TAG_KEYS
from otel_llmcost.decode import AttributeFilter
from otel_llmcost.model import Attribution, LlmCall, SpanRecord

_MAX_DEPTH = 256  # guards against parent cycles in malformed traces
_DIMENSIONS = ("tenant_id", "environment", "service_name", "feature", "user_id", "session_id", "request_id")


class Attributor:
    def __init__(self, keys: Mapping[str, tuple[str, ...]]):
        self._keys = {dimension: tuple(keys[dimension]) for dimension in (*_DIMENSIONS, "attempt")}
        keys = {k for ks in self._keys.values() for k in ks} | set(METADATA_JSON_KEYS) | set(TAG_KEYS)
        self.wanted = AttributeFilter(frozenset(keys), METADATA_PREFIXES)

    def attribute(
        self, calls: Sequence[tuple[SpanRecord, LlmCall]], spans_by_id: Mapping[str, SpanRecord]
    ) -> list[Attribution]:
        """Attribution for each (span, call) of one trace; spans_by_id holds every known span of it."""
        chains = [_chain(span, spans_by_id) for span, _ in calls]
        found = [self._dimensions(chain) for chain in chains]
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
                tags=_tags(chain),
                metadata=_metadata(chain),
            )
            for (span, _), values, attempt, chain in zip(calls, found, attempts, chains)
        ]

    def _dimensions(self, chain: list[SpanRecord]) -> dict[str, str]:
        return {dimension: _lookup(chain, chain[0].resource, keys) for dimension, keys in self._keys.items()}

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


def _chain(span: SpanRecord, spans_by_id: Mapping[str, SpanRecord]) -> list[SpanRecord]:
    """The span and its known ancestors, nearest first."""
    chain = [span]
    parent_id = span.parent_span_id
    while parent_id and len(chain) < _MAX_DEPTH:
        parent = spans_by_id.get(parent_id)
        if parent is None:
            break
        chain.append(parent)
        parent_id = parent.parent_span_id
    return chain


def _metadata(chain: list[SpanRecord]) -> dict[str, str]:
    found: dict[str, str] = {}
    for source in [*(span.attributes for span in chain), chain[0].resource]:
        for key, value in source.items():
            if key in METADATA_JSON_KEYS:
                for inner_key, inner_value in _json(value, dict).items():
                    found.setdefault(str(inner_key), _text(inner_value))
                continue
            for prefix in METADATA_PREFIXES:
                if key.startswith(prefix):
                    found.setdefault(key[len(prefix):], _text(value))
                    break
    return found


def _tags(chain: list[SpanRecord]) -> tuple[str, ...]:
    tags: dict[str, None] = {}
    for source in [*(span.attributes for span in chain), chain[0].resource]:
        for key in TAG_KEYS:
            for tag in _json(source.get(key), list):
                tags.setdefault(str(tag), None)
    return tuple(tags)


def _json(value, kind: type):
    """An attribute that is a list/dict, or a JSON string of one (emitters do both)."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return kind()
    return value if isinstance(value, kind) else kind()


def _text(value) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def _lookup(chain: list[SpanRecord], resource: Mapping, keys: tuple[str, ...]) -> str:
    """Keys in priority order; for each, the nearest span carrying it, then the resource. So an explicit
    key on the app span beats a fallback key on the LLM span, and an inner span overrides an outer one."""
    for key in keys:
        for attributes in (*(span.attributes for span in chain), resource):
            value = attributes.get(key)
            if value is not None and value != "":
                return str(value)
    return ""
