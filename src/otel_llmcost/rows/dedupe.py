"""Every LLM call counted exactly once, whatever mix of instrumentations reported it.

Three rules, applied to the calls of one trace:

1. **One call, two spans.** Two call spans describe the same call when they carry the same
   `response_id`, or, when either lacks one, when they come from different instrumentation scopes, one
   hangs off the other or off one of its ancestors (ancestor, sibling, or a framework's span nested in its
   own spans beside the provider span that hangs off the app span), neither failed while the other did,
   their time ranges overlap, they name the same model and operation, and their token counts do not
   contradict each other. (An instrumentation library wrapping the provider SDK's own span; a proxy's span
   under the app's.) They become one row: the more complete span is kept, and each of its missing facts is
   filled from the other. Which provider and model were called is taken from the inner span when it says:
   it is closer to the provider (a proxy knows the upstream that the app's OpenAI-protocol span cannot).
   The row's parent is the outer span's parent, where the call sits in the app (retries of a call are
   recognised by it); for spans not nested, the deeper of their parents.
2. **Sums are not calls.** A call span that has another, different call span below it is an aggregate
   (an agent or chain span that reports its children's usage) and is not billed.
3. **Preparation is not a call.** A call span that learnt nothing of an answer (no usage, no response id,
   no error) is not billed when a call of the same model and operation that reports usage
   hangs off the same span or below it and starts no earlier: it prepared or wrapped that call.

The same scope never reports one call twice, so spans from one scope are only merged on equal
response ids: two identical parallel calls from one library stay two calls.

Linear in the calls of a trace: each call is compared only with the kept calls that could be the same
call (`_Candidates`: the same response id, or a related span of another scope with the same operation, a
model of the same prefix and an overlapping time), never with all of them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import fields, replace

from otel_llmcost.model import LlmCall, SpanRecord

Pair = tuple[SpanRecord, LlmCall]
_TOKEN_FIELDS = ("input_tokens", "cache_read_tokens", "cache_write_tokens", "output_tokens", "reasoning_tokens")
_MAX_DEPTH = 256
_IDENTITY_FIELDS = ("provider", "request_model", "response_model")
_MODEL_KEY_CHARS = 4  # models in a prefix relation share their first characters: the index buckets by them


def count_once(calls: Sequence[Pair], spans_by_id: Mapping[str, SpanRecord]) -> list[Pair]:
    """The calls to bill: duplicates merged (rule 1), aggregates dropped (rule 2), in the input order."""
    ancestors = {span.span_id: _ancestors(span, spans_by_id) for span, _ in calls}
    merged: list[Pair] = []
    # One scope never reports a call twice: with one scope in the trace, only response ids can match.
    candidates = _Candidates(ancestors, structural=len({span.scope_name for span, _ in calls}) > 1)
    absorbed: dict[str, str] = {}  # an outer span merged into the call it wraps -> where that row sits
    for pair in calls:
        # The first kept call that is the same call, as a scan of all of them in order would find it.
        index = next((i for i in sorted(candidates.of(pair)) if _same_call(pair, merged[i], ancestors)), None)
        if index is None:
            index = len(merged)
            merged.append(pair)
        else:
            before = merged[index]
            merged[index] = _merge(before, pair, ancestors)
            for outer, inner in ((before[0], pair[0]), (pair[0], before[0])):
                if outer.span_id in ancestors[inner.span_id]:
                    absorbed[outer.span_id] = merged[index][0].parent_span_id
        candidates.add(index, merged[index])
    billed_ids = {span.span_id for span, _ in merged}
    has_call_below = {a for span, _ in merged for a in ancestors[span.span_id] if a in billed_ids}
    kept = [(span, call) for span, call in merged if span.span_id not in has_call_below]
    # Tries made inside a call that another library wrapped (DSPy's LM span around LiteLLM's retries) sit where
    # that call's row sits, beside it, so attempts number them together.
    kept = [(replace(span, parent_span_id=absorbed[span.parent_span_id]), call)
            if span.parent_span_id in absorbed and span.span_id not in absorbed else (span, call)
            for span, call in kept]
    return _without_empty_wrappers(kept, ancestors)


def _without_empty_wrappers(calls: list[Pair], ancestors: Mapping[str, set[str]]) -> list[Pair]:
    """Rule 3: an LLM-kind span that learnt nothing of an answer (no usage, no response id, no error) is request
    preparation or a wrapper, not a call, when a call of the same model and operation that does report usage
    hangs off the same span (or below it) and starts no earlier (LlamaIndex's `_prepare_chat_with_tools` beside
    its `astream_chat`)."""
    if not any(_empty(call) for _, call in calls):  # what nearly every trace holds: nothing to look for
        return calls
    by_place: dict[str, list[Pair]] = defaultdict(list)
    for pair in calls:
        if not _empty(pair[1]):
            for place in (pair[0].parent_span_id, *ancestors[pair[0].span_id]):
                by_place[place].append(pair)

    def prepares_another(pair: Pair) -> bool:
        span, call = pair
        return any(other.start_ns >= span.start_ns and other_call.operation == call.operation
                   and _same_model(call, other_call)
                   for place in (span.parent_span_id, span.span_id) for other, other_call in by_place.get(place, ()))

    return [pair for pair in calls if not (_empty(pair[1]) and prepares_another(pair))]


def _empty(call: LlmCall) -> bool:
    # Not the response model: some dialects read the one model name they have as both.
    return not (call.error_type or call.response_id or any(getattr(call, name) for name in _TOKEN_FIELDS))


class _Candidates:
    """The kept calls indexed by what `_same_call` requires, so that each lookup returns a superset of the
    kept calls it can accept, and not much more: by response id; and, for spans of another scope with the
    same operation and model prefix whose time overlaps, by span id (the call's ancestors), by ancestor (its
    descendants) and by parent (the calls hanging off it or off one of its ancestors). A merged call is
    indexed again under its new span and facts."""

    def __init__(self, ancestors: Mapping[str, set[str]], structural: bool):
        self._ancestors = ancestors
        self._structural = structural
        self._by_response: dict[str, list[int]] = defaultdict(list)
        # (relation, span id, operation) -> (scope, model key) -> kept indexes by time
        self._related: dict[tuple, dict[tuple[str, str], _Times]] = defaultdict(dict)

    def add(self, index: int, pair: Pair) -> None:
        span, call = pair
        if call.response_id:
            self._by_response[call.response_id].append(index)
        model = _model(call)
        if not model or not self._structural:
            return  # _same_model never accepts a call without a model
        bucket = (span.scope_name, model[:_MODEL_KEY_CHARS])
        keys = [("self", span.span_id), *(("below", ancestor) for ancestor in self._ancestors[span.span_id])]
        if span.parent_span_id:
            keys.append(("parent", span.parent_span_id))
        for relation, span_id in keys:
            buckets = self._related[(relation, span_id, call.operation)]
            times = buckets.get(bucket)
            if times is None:
                times = buckets[bucket] = _Times()
            times.add(index, span.start_ns, span.end_ns)

    def of(self, pair: Pair) -> set[int]:
        span, call = pair
        found = set(self._by_response.get(call.response_id, ())) if call.response_id else set()
        model = _model(call)
        if model and self._structural:
            keys = [("self", ancestor, call.operation) for ancestor in self._ancestors[span.span_id]]
            keys += [("parent", ancestor, call.operation) for ancestor in self._ancestors[span.span_id]]
            keys.append(("below", span.span_id, call.operation))
            if span.parent_span_id:
                keys.append(("below", span.parent_span_id, call.operation))
            for key in keys:
                for (scope, model_key), times in self._related.get(key, {}).items():
                    if scope != span.scope_name and (model.startswith(model_key) or model_key.startswith(model)):
                        found.update(times.overlapping(span.start_ns, span.end_ns))
        return found


class _Times:
    """Indexes of kept calls by time: each interval is filed at the level whose cells are at least as long
    as it is, in the one or two cells it touches, so an overlapping interval shares a cell with it."""

    def __init__(self) -> None:
        self._cells: dict[tuple[int, int], list[int]] = defaultdict(list)
        self._levels: dict[int, list[int]] = defaultdict(list)  # level -> every index filed at it

    def add(self, index: int, start: int, end: int) -> None:
        first, last = min(start, end), max(start, end)  # an inverted interval: filed over its whole range
        level = (last - first + 1).bit_length()
        for cell in {first >> level, last >> level}:
            self._cells[(level, cell)].append(index)
        self._levels[level].append(index)

    def overlapping(self, start: int, end: int) -> Iterator[int]:
        """A superset of the indexes whose interval overlaps [start, end]."""
        for level, everything in self._levels.items():
            first, last = min(start, end) >> level, max(start, end) >> level
            if last - first + 1 >= len(everything):
                yield from everything
            else:
                for cell in range(first, last + 1):
                    yield from self._cells.get((level, cell), ())


def _model(call: LlmCall) -> str:
    # "openai/gpt-4o-mini" (LiteLLM), "models/gemini-2.5-flash": the model is after the last slash.
    return (call.response_model or call.request_model).lower().rsplit("/", 1)[-1]


def _ancestors(span: SpanRecord, spans_by_id: Mapping[str, SpanRecord]) -> set[str]:
    found: set[str] = set()
    parent_id = span.parent_span_id
    while parent_id and parent_id not in found and len(found) < _MAX_DEPTH:
        found.add(parent_id)
        parent = spans_by_id.get(parent_id)
        parent_id = parent.parent_span_id if parent is not None else ""
    return found


def _same_call(a: Pair, b: Pair, ancestors: Mapping[str, set[str]]) -> bool:
    (span_a, call_a), (span_b, call_b) = a, b
    if call_a.response_id and call_b.response_id:
        return call_a.response_id == call_b.response_id
    if span_a.scope_name == span_b.scope_name or call_a.operation != call_b.operation:
        return False
    if bool(call_a.error_type) != bool(call_b.error_type):
        return False  # a failed try inside a call that succeeded (its retry did) is not that call
    related = (
        span_a.span_id in ancestors[span_b.span_id]
        or span_b.span_id in ancestors[span_a.span_id]
        or span_a.parent_span_id in ancestors[span_b.span_id]
        or span_b.parent_span_id in ancestors[span_a.span_id]
    )
    overlap = span_a.start_ns < span_b.end_ns and span_b.start_ns < span_a.end_ns
    return bool(related and overlap and _same_model(call_a, call_b) and _tokens_agree(call_a, call_b))


def _same_model(a: LlmCall, b: LlmCall) -> bool:
    # A dated snapshot ("gpt-4o-mini-2024-07-18") is the same model as its alias ("gpt-4o-mini").
    model_a, model_b = _model(a), _model(b)
    return bool(model_a and model_b) and (model_a.startswith(model_b) or model_b.startswith(model_a))


def _tokens_agree(a: LlmCall, b: LlmCall) -> bool:
    # A count one side lacks (0) is no contradiction; two different non-zero counts are.
    return all(
        not getattr(a, name) or not getattr(b, name) or getattr(a, name) == getattr(b, name)
        for name in ("input_tokens", "output_tokens")
    )


def _merge(a: Pair, b: Pair, ancestors: Mapping[str, set[str]]) -> Pair:
    """Keep the more complete span (the inner one on a tie); fill what it lacks from the other."""
    inner_first = (b, a) if a[0].span_id in ancestors[b[0].span_id] else (a, b)
    primary = max(inner_first, key=lambda pair: _completeness(pair[1]))  # max keeps the first on a tie
    other = inner_first[1] if primary is inner_first[0] else inner_first[0]
    span, call = primary
    inner, outer = inner_first[0][0], inner_first[1][0]
    if outer.span_id in ancestors[inner.span_id]:
        # The row is the inner span (the leaf: tries made inside the outer one stay apart from it), where the
        # outer one sits.
        span = replace(span, span_id=inner.span_id, parent_span_id=outer.parent_span_id)
    elif outer.parent_span_id != inner.parent_span_id:
        # Not nested: the row sits at the deeper of the two places (the framework's, under which its retries
        # and steps are siblings), not at the app span the provider span fell back to.
        deeper = inner if outer.parent_span_id in ancestors[inner.span_id] else outer
        span = replace(span, parent_span_id=deeper.parent_span_id)
    filled = {}
    for field in fields(LlmCall):
        mine, theirs = getattr(call, field.name), getattr(other[1], field.name)
        if field.name == "usage_issue":
            filled[field.name] = mine
        elif mine in (None, "", 0) and theirs not in (None, "", 0):
            filled[field.name] = theirs
    inner_call = inner_first[0][1]
    for name in _IDENTITY_FIELDS:
        if getattr(inner_call, name):
            filled[name] = getattr(inner_call, name)
    filled["dialect"] = f"{call.dialect}+{other[1].dialect}"
    return span, replace(call, **filled)


def _completeness(call: LlmCall) -> tuple[int, int]:
    """Counts that contradict each other are taken from the span that knows more (usually the provider
    SDK's own span: it also reports streaming timings and the server)."""
    known = sum(1 for name in _TOKEN_FIELDS if getattr(call, name))
    known += sum(1 for value in (call.response_model, call.response_id, call.provider, call.request_model,
                                 call.server_address, call.ttft_ms) if value)
    return (0 if call.usage_issue else 1, known)
