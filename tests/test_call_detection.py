"""semconv.may_be_call spares plain spans every dialect's test: it must never turn away a span a dialect
recognises (on every captured fixture's spans, and on generated spans mixing the dialects' keys, scopes and
span names)."""

from __future__ import annotations

import json
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from otel_llmcost.decode import AttributeFilter, decode_spans, parse_json
from otel_llmcost.model import SpanRecord
from otel_llmcost.semconv import DIALECTS, WANTED_ATTRIBUTES, extract_call, may_be_call

FIXTURES = Path(__file__).parent / "fixtures" / "dialects"
EVERYTHING = AttributeFilter(frozenset(), ("",))
KEYS = sorted(WANTED_ATTRIBUTES.keys | {"http.request.method", "db.system.name", "server.address", "app.items"})
SCOPES = sorted({scope + suffix for dialect in DIALECTS for scope in dialect.SCOPES for suffix in ("", ".x")} | {
    "", "opentelemetry.instrumentation.openai", "opentelemetry.instrumentation.fastapi", "app"})
NAMES = sorted({name for dialect in DIALECTS for name in dialect.SPAN_NAMES} | {"GET", "chat gpt-4o"})
VALUES = st.one_of(st.sampled_from(["chat", "openai", "LLM", "generation", "ai.generateText.doGenerate", ""]),
                   st.integers(0, 5000), st.booleans())


def _recognised(span: SpanRecord) -> bool:
    return any(dialect.recognises(span) for dialect in DIALECTS)


def test_every_fixture_span_a_dialect_recognises_may_be_a_call():
    spans = []
    for path in sorted(FIXTURES.glob("*.json")):
        for export in json.loads(path.read_text())["exports"]:
            request, _ = parse_json(json.dumps(export).encode())
            spans += decode_spans(request, EVERYTHING).spans
    recognised = [span for span in spans if _recognised(span)]
    assert len(recognised) > 100 and all(may_be_call(span) for span in recognised)
    assert any(not may_be_call(span) for span in spans)  # the frameworks' own plain spans are turned away


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(st.sampled_from(KEYS), VALUES, max_size=6), st.sampled_from(SCOPES), st.sampled_from(NAMES),
       st.integers(0, 2))
def test_generated_spans_a_dialect_recognises_may_be_calls(attributes, scope, name, status):
    span = SpanRecord("a" * 32, "b" * 16, "", name, 1, 1, 2, status, "", attributes, {}, scope, "1")
    if _recognised(span):
        assert may_be_call(span)
    else:
        assert extract_call(span) is None
