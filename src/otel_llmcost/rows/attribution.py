"""Attribution stage: who and what each LLM call is charged to, and which try of the call it was.

Each dimension (tenant, environment, service, feature, user, session, request id, project) is read through its
configured attribute keys, in priority order: for each key, the call's own span (then its resource), then
its ancestors nearest first (each before its resource).
The tenant of the API key an export came with (AUTH_TENANT_KEY, set by the receiver) comes before every
tenant key; the key's id (AUTH_KEY_ID_KEY) is the call's api_key_id, read from nowhere else. `request_id`
defaults to the trace id. Free-form dimensions from every dialect (Vercel
`ai.telemetry.metadata.*`, Traceloop association properties, Langfuse metadata, OpenInference `metadata`)
land in the `metadata` map, nearest span first; tags (Langfuse, OpenInference) in `tags`.

`attempt` numbers the tries of one logical call within a request. Unless the app states it (the
`attempt` keys), tries are the calls of the same request with the same parent span, provider, operation and
model (a dated snapshot counting as its alias), in start order: a call right after a failed one is its
retry (attempt + 1), a call after a successful one starts again at attempt 1. A failed try whose span names no
model (it failed before the library learnt it) is a try of the next call in the same place.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence

from otel_llmcost.config import AUTH_KEY_ID_KEY, AUTH_TENANT_KEY, METADATA_JSON_KEYS, METADATA_PREFIXES, TAG_KEYS
from otel_llmcost.decode import AttributeFilter
from otel_llmcost.model import AttributeValue, Attribution, LlmCall, SpanRecord
from otel_llmcost.semconv.values import json_value

_MAX_DEPTH = 256  # guards against parent cycles in malformed traces
# A failed try may name the requested model and its retry the dated snapshot that answered.
_SNAPSHOT_SUFFIX = re.compile(r"-(\d{4}-\d{2}-\d{2}|\d{8})$")
_DIMENSIONS = ("tenant_id", "environment", "service_name", "feature", "user_id", "session_id", "request_id",
               "project")


class Attributor:
    def __init__(self, keys: Mapping[str, tuple[str, ...]]):
        self._keys = {dimension: tuple(keys[dimension]) for dimension in (*_DIMENSIONS, "attempt")}
        self._keys["tenant_id"] = (AUTH_TENANT_KEY, *self._keys["tenant_id"])
        self._keys["api_key_id"] = (AUTH_KEY_ID_KEY,)
        read = {k for ks in self._keys.values() for k in ks} | set(METADATA_JSON_KEYS) | set(TAG_KEYS)
        self.wanted = AttributeFilter(frozenset(read), METADATA_PREFIXES)

    def attribute(
        self, calls: Sequence[tuple[SpanRecord, LlmCall]], spans_by_id: Mapping[str, SpanRecord]
    ) -> list[Attribution]:
        """Attribution for each (span, call) of one trace; spans_by_id holds every known span of it."""
        views = _Views(spans_by_id)
        merged = [views.of(span) for span, _ in calls]
        found = [self._dimensions(view) for view in merged]
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
                tags=_tags(view),
                metadata=_metadata(view),
                project=values["project"],
                api_key_id=values["api_key_id"],
            )
            for (span, _), values, attempt, view in zip(calls, found, attempts, merged, strict=True)
        ]

    def _dimensions(self, view: Mapping) -> dict[str, str]:
        """Keys in priority order: an explicit key on the app span beats a fallback key on the LLM span."""
        found = {}
        for dimension, keys in self._keys.items():
            found[dimension] = ""
            for key in keys:
                if key in view:
                    found[dimension] = str(view[key])
                    break
        return found

    @staticmethod
    def _attempts(calls: Sequence[tuple[SpanRecord, LlmCall]], found: list[dict[str, str]]) -> list[int]:
        attempts = [1] * len(calls)
        order = sorted(range(len(calls)), key=lambda i: calls[i][0].start_ns)
        previous: dict[tuple, tuple[int, bool, int]] = {}  # logical call -> (attempt, failed, start) of its last try
        for index in order:
            span, call = calls[index]
            stated = found[index]["attempt"]
            if stated.isdecimal() and int(stated) > 0:  # isdigit() also takes "²", which int() refuses
                attempts[index] = int(stated)
                continue
            model = _SNAPSHOT_SUFFIX.sub("", (call.request_model or call.response_model).lower())
            place = (found[index]["request_id"], span.parent_span_id, call.provider, call.operation)
            # A try that failed before the span learnt its model (no model on it) is a try of whichever call
            # comes next in the same place, and a try without a model follows whatever was tried there last.
            tries = [previous.get(place + (model,)), previous.get(place + ("",))] if model else [
                previous.get(place + (None,))]
            last = max((t for t in tries if t is not None), key=lambda t: t[2], default=None)
            attempts[index] = last[0] + 1 if last is not None and last[1] else 1
            entry = (attempts[index], bool(call.error_type), span.start_ns)
            previous[place + (model,)] = entry
            previous[place + (None,)] = entry  # the last try in this place, whatever its model
        return attempts


class _Views:
    """Each span's attributes laid over its resource's and its ancestors' (nearer wins, empty values never
    win), memoized per trace: calls of one trace share most of their ancestors."""

    def __init__(self, spans_by_id: Mapping[str, SpanRecord]):
        self._spans = spans_by_id
        self._memo: dict[str, dict] = {}
        self._resources: dict[int, dict] = {}  # the spans of one export share their resource's dict

    def of(self, span: SpanRecord, depth: int = 0) -> dict:
        view = self._memo.get(span.span_id)
        if view is None:
            parent = self._spans.get(span.parent_span_id) if span.parent_span_id else None
            base = self.of(parent, depth + 1) if parent is not None and depth < _MAX_DEPTH else {}
            resource = self._resources.get(id(span.resource))
            if resource is None:
                resource = self._resources[id(span.resource)] = _present(span.resource)
            view = {**base, **resource, **_present(span.attributes)}
            self._memo[span.span_id] = view
        return view


def _present(attributes: Mapping) -> dict:
    return {key: value for key, value in attributes.items() if value is not None and value != ""}


def _metadata(view: Mapping) -> dict[str, str]:
    found: dict[str, str] = {}
    for key in METADATA_JSON_KEYS:
        if key in view:
            for inner_key, inner_value in json_value(view[key], dict).items():
                found[str(inner_key)] = _text(inner_value)
    for key, value in view.items():
        if key.startswith(METADATA_PREFIXES):
            prefix = next(p for p in METADATA_PREFIXES if key.startswith(p))
            found[key[len(prefix):]] = _text(value)
    return found


def _tags(view: Mapping) -> tuple[str, ...]:
    if not any(key in view for key in TAG_KEYS):
        return ()
    return tuple(dict.fromkeys(str(tag) for key in TAG_KEYS for tag in json_value(view.get(key), list)))


def _text(value: AttributeValue) -> str:
    """Metadata as text; Langfuse v5 JSON-encodes string values ('"cust-3"'), which we decode once."""
    if isinstance(value, str):
        if len(value) >= 2 and value[0] == value[-1] == '"':
            try:
                decoded = json.loads(value)
            except ValueError:
                return value
            return decoded if isinstance(decoded, str) else value
        return value
    try:
        return json.dumps(value)
    except RecursionError:  # parsed just within the parser's depth, too deep to print again
        return "(nested too deeply)"
