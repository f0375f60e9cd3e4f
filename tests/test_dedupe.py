"""Counted once: duplicate spans of one call merge, aggregate spans are not billed, real repeats stay."""

from __future__ import annotations

from dataclasses import replace

from otel_llmcost.model import LlmCall, SpanRecord
from otel_llmcost.rows.dedupe import count_once

CALL = LlmCall("otel-genai", "anthropic", "chat", "claude-sonnet-4-5", "", "", "", False, None, "", "",
               input_tokens=450, cache_read_tokens=300, cache_write_tokens=50, output_tokens=25)


def _span(span_id: str, parent: str, scope: str, start: int = 10, end: int = 20) -> SpanRecord:
    return SpanRecord("t" * 32, span_id, parent, "s", 3, start, end, 0, "", {}, {}, scope, "1")


def _bill(*pairs):
    spans = {span.span_id: span for span, _ in pairs}
    return [(span.span_id, call) for span, call in count_once(list(pairs), spans)]


def test_library_span_around_the_sdks_own_span_is_one_call():
    outer = (_span("a", "root", "openinference.instrumentation.anthropic", 10, 30),
             replace(CALL, dialect="openinference", emitter_cost_usd=None, response_model="claude-sonnet-4-5-20250929"))
    inner = (_span("b", "a", "anthropic", 12, 28), replace(CALL, response_id="msg_1", streaming=True))
    [(span_id, call)] = _bill(outer, inner)
    assert span_id == "b"  # the more complete one: it has a response id too
    assert call.response_model == "claude-sonnet-4-5-20250929" and call.response_id == "msg_1"
    assert call.dialect == "otel-genai+openinference"


def test_equal_response_ids_merge_even_as_siblings_of_one_scope():
    first = (_span("a", "p", "x"), replace(CALL, response_id="r1"))
    second = (_span("b", "p", "x"), replace(CALL, response_id="r1", cache_read_tokens=0))
    assert [span_id for span_id, _ in _bill(first, second)] == ["a"]


def test_aggregate_span_above_calls_is_not_billed():
    agent = (_span("agent", "", "framework", 0, 100), replace(CALL, input_tokens=900, output_tokens=50))
    call1 = (_span("c1", "agent", "sdk", 10, 20), replace(CALL, response_id="r1"))
    call2 = (_span("c2", "agent", "sdk", 30, 40), replace(CALL, response_id="r2"))
    assert [span_id for span_id, _ in _bill(agent, call1, call2)] == ["c1", "c2"]


def test_retries_and_parallel_calls_stay_separate():
    failed = (_span("a", "p", "sdk", 10, 20), replace(CALL, input_tokens=0, output_tokens=0, error_type="429"))
    retry = (_span("b", "p", "sdk", 21, 30), CALL)
    assert len(_bill(failed, retry)) == 2
    parallel = (_span("c", "p", "sdk", 10, 20), CALL), (_span("d", "p", "sdk", 11, 19), CALL)
    assert len(_bill(*parallel)) == 2  # one library never reports one call twice
    other_model = (_span("e", "p", "other", 10, 20), replace(CALL, request_model="gpt-4o"))
    assert len(_bill(parallel[0], other_model)) == 2
    contradiction = (_span("f", "p", "other", 10, 20), replace(CALL, input_tokens=999))
    assert len(_bill(parallel[0], contradiction)) == 2


def _counting_comparisons(monkeypatch) -> list[int]:
    """Counts the pairs count_once compares: the algorithm's cost, whatever the machine's speed."""
    import otel_llmcost.rows.dedupe as dedupe

    compared, same_call = [0], dedupe._same_call

    def counted(*args):
        compared[0] += 1
        return same_call(*args)

    monkeypatch.setattr(dedupe, "_same_call", counted)
    return compared


def test_one_huge_trace_is_deduplicated_in_linear_comparisons(monkeypatch):
    compared = _counting_comparisons(monkeypatch)
    # 20,000 calls of one library under one root (the 100k-span trace): no pair can be one call.
    flat = [(_span(f"c{i}", "root", "sdk", i, i + 5), replace(CALL, input_tokens=i)) for i in range(20_000)]
    assert len(_bill(*flat)) == 20_000
    assert compared[0] == 0
    # 5,000 library spans, each around the SDK's own span: 5,000 calls, each merged after one comparison
    # and the aggregate rule checked by ancestry, not pairwise.
    nested = []
    for i in range(5_000):
        nested.append((_span(f"o{i}", "root", "openinference", 10 * i, 10 * i + 9), CALL))
        nested.append((_span(f"i{i}", f"o{i}", "anthropic", 10 * i + 1, 10 * i + 8), CALL))
    compared[0] = 0
    billed = _bill(*nested)
    assert [span_id for span_id, _ in billed] == [f"i{i}" for i in range(5_000)]  # the inner span, on a tie
    assert compared[0] <= 3 * len(nested)  # a scan of every kept call would make ~12.5 million


def test_an_llm_kind_span_that_only_prepared_the_call_is_not_billed():
    empty = replace(CALL, input_tokens=0, cache_read_tokens=0, cache_write_tokens=0, output_tokens=0)
    prepare = (_span("prep", "turn", "x", 10, 11), empty)
    call = (_span("call", "turn", "x", 12, 20), CALL)
    assert [span_id for span_id, _ in _bill(prepare, call)] == ["call"]
    # A wrapper around the call it made: the same.
    wrapper = (_span("wrap", "turn", "x", 10, 30), empty)
    inner = (_span("inner", "wrap", "x", 12, 20), CALL)
    assert [span_id for span_id, _ in _bill(wrapper, inner)] == ["inner"]
    # An empty span after the last call with usage, a failed one, or one of another model stays a row.
    after = (_span("after", "turn", "x", 40, 50), empty)
    assert len(_bill(call, after)) == 2
    assert len(_bill((prepare[0], replace(empty, error_type="429")), call)) == 2
    assert len(_bill((prepare[0], replace(empty, request_model="gpt-4o")), call)) == 2


def test_tries_inside_a_wrapped_call_sit_beside_its_row():
    # A framework's LLM span (DSPy's LM call) around a library's tries (LiteLLM's retry): the failed try and
    # the merged call end up under the same parent, so attempts number them 1, 2.
    outer = (_span("lm", "app", "framework", 0, 100), replace(CALL, request_model="openai/claude-sonnet-4-5"))
    failed = (_span("try1", "lm", "litellm", 10, 20), replace(CALL, input_tokens=0, cache_read_tokens=0,
                                                               cache_write_tokens=0, output_tokens=0, error_type="429"))
    retry = (_span("try2", "lm", "litellm", 30, 90), CALL)
    spans = {span.span_id: span for span, _ in (outer, failed, retry)}
    billed = count_once([outer, failed, retry], spans)
    assert [(span.span_id, span.parent_span_id) for span, _ in billed] == [("try2", "app"), ("try1", "app")]
