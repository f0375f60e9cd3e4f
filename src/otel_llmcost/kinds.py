"""Every billable kind, declared once (modelled on genai-prices' units data).

A kind is a quantity a provider bills: tokens of a sort, web searches, images, seconds of audio, the call
itself. Its row says where its count is kept, which cost column its charge adds to, which count it is part
of, how many units one price is for, what a price book calls that price and on which line of a provider's
bill it appears. From this table come: the count fields of LlmCall and UsageRow and the cost fields of Cost
(model.py), the price book's rate keys and Rates (pricing/), price_call's loop, the attribute names every
dialect reads (semconv/fields.py), the llm_usage and rollup columns (store/schema.py, store/rollups.py) and so
the row checks (rows/rowcheck.py), the billed kinds of reconciliation and the FOCUS export
(reports/billed_kinds.py), the usage factors and rates of `why` (reports/why.py), and the flags of
`prices quote`. A new kind is one row here, its dialects' attribute
names, and `python scripts/kinds_migration.py NNN name`, which writes the classes' per-kind fields
(scripts/kinds_code.py: plain source, so mypy sees them) and the migration of its columns.

Our count convention: a part is counted inside its whole (input_tokens includes cache reads, cache writes,
audio and image input; output_tokens includes reasoning, audio and image output; cache_write_tokens
includes the 1-hour writes). Each kind is charged for its own units only: its count less its parts'.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from operator import sub

_TOKENS = "UInt64"
_UNITS = "UInt32"
_MILLION = 1_000_000


@dataclass(frozen=True, slots=True)
class Kind:
    """One billable kind."""

    rate: str  # its price's key in a price book and its Rates field: USD per `per` units
    count: str  # the LlmCall / llm_usage field counting the units a call used; "" = one per call
    cost: str  # the llm_usage cost column its charge adds to (kinds may share one)
    unit: str  # what is counted, singular ("token", "web search", "second")
    per: int  # how many units one price is for
    part_of: str = ""  # the count this one is part of: its units are not charged again at that count's rate
    fallback: str = ""  # the rate charged when the price book has none for this kind ("": nothing charged)
    estimate_on_fallback: bool = True  # a call charged the fallback (or nothing) for such units is 'estimated'
    required: bool = False  # every price must give this rate
    count_type: str = _TOKENS  # the ClickHouse type of the count's column
    attributes: tuple[str, ...] = ()  # span attributes every dialect reads the count from, preferred first
    billed: str = ""  # the line of a provider's bill its charge is on: kinds on one line are summed there
    meter: str = ""  # that line's FOCUS SkuMeter ("Input Tokens"), the same on every kind of the line
    # the cause `why` puts a change of its count per call under: prompt, cache or completion ("": its whole's,
    # or the completion's for a count that is part of none)
    why: str = ""

    @property
    def field(self) -> str:
        """Its name in a dialect's Fields and as a `prices quote` flag ("cache_read", "web_searches")."""
        return self.count.removesuffix("_tokens")


KINDS: tuple[Kind, ...] = (
    Kind("input", "input_tokens", "input_cost_usd", "token", _MILLION, required=True,
         billed="input", meter="Input Tokens", why="prompt"),
    Kind("cache_read", "cache_read_tokens", "cache_read_cost_usd", "token", _MILLION, part_of="input_tokens",
         fallback="input", billed="cache_read", meter="Cache Read Input Tokens", why="cache"),
    Kind("cache_write", "cache_write_tokens", "cache_write_cost_usd", "token", _MILLION, part_of="input_tokens",
         fallback="input", billed="cache_write", meter="Cache Write Input Tokens", why="cache"),
    Kind("output", "output_tokens", "output_cost_usd", "token", _MILLION, required=True,
         billed="output", meter="Output Tokens"),
    # price lists give no rate of its own for reasoning (it is output, and billed as output): no estimate
    Kind("reasoning", "reasoning_tokens", "reasoning_cost_usd", "token", _MILLION, part_of="output_tokens",
         fallback="output", estimate_on_fallback=False, billed="output", meter="Output Tokens"),
    Kind("cache_write_1h", "cache_write_1h_tokens", "cache_write_cost_usd", "token", _MILLION,
         part_of="cache_write_tokens", fallback="cache_write",
         attributes=("anthropic.usage.cache_creation.ephemeral_1h_input_tokens",),
         billed="cache_write", meter="Cache Write Input Tokens"),
    # the genai repo's modality names
    Kind("audio_input", "audio_input_tokens", "audio_cost_usd", "token", _MILLION, part_of="input_tokens",
         fallback="input", attributes=("gen_ai.usage.audio.input_tokens",), billed="audio", meter="Audio Tokens"),
    Kind("audio_output", "audio_output_tokens", "audio_cost_usd", "token", _MILLION, part_of="output_tokens",
         fallback="output", attributes=("gen_ai.usage.audio.output_tokens",), billed="audio", meter="Audio Tokens"),
    # price lists name an image token rate only where it differs from the text rate: no estimate
    Kind("image_input", "image_input_tokens", "image_cost_usd", "token", _MILLION, part_of="input_tokens",
         fallback="input", estimate_on_fallback=False, attributes=("gen_ai.usage.image.input_tokens",),
         billed="image", meter="Image Tokens"),
    Kind("image_output", "image_output_tokens", "image_cost_usd", "token", _MILLION, part_of="output_tokens",
         fallback="output", estimate_on_fallback=False, attributes=("gen_ai.usage.image.output_tokens",),
         billed="image", meter="Image Tokens"),
    # a fee on every call; most models have none, so its absence is no estimate
    Kind("per_request", "", "request_fee_usd", "request", 1, estimate_on_fallback=False,
         billed="request", meter="Requests"),
    # server-side tool calls the provider runs and bills by the call (Anthropic web search, Gemini grounding,
    # OpenAI's web_search_call and file_search_call output items: semconv/server_tools.py). No semantic
    # convention names these counts yet: llmcost.usage.* is ours, for dialects and apps to set.
    Kind("per_search", "web_searches", "search_fee_usd", "web search", 1, count_type=_UNITS,
         attributes=("llmcost.usage.web_searches",), billed="web_search", meter="Web Searches"),
    Kind("per_1k_file_searches", "file_searches", "tool_fee_usd", "file search", 1_000, count_type=_UNITS,
         attributes=("llmcost.usage.file_searches",), billed="file_search", meter="File Searches"),
    # generated images priced by the image (DALL-E, Imagen), not by image tokens
    Kind("per_image", "images", "image_fee_usd", "image", 1, count_type=_UNITS,
         attributes=("llmcost.usage.images",), billed="image_generation", meter="Images"),
    # audio priced by its length (transcription): whole seconds, as the providers bill them
    Kind("per_audio_minute", "audio_seconds", "audio_fee_usd", "second", 60, count_type=_UNITS,
         attributes=("llmcost.usage.audio_seconds",), billed="audio_duration", meter="Audio Seconds",
         why="prompt"),
)
BY_RATE: dict[str, Kind] = {kind.rate: kind for kind in KINDS}
COUNTED: tuple[Kind, ...] = tuple(kind for kind in KINDS if kind.count)
#: every count a call has, in llm_usage column order
COUNTS: tuple[str, ...] = tuple(kind.count for kind in COUNTED)
RATE_KEYS: tuple[str, ...] = tuple(BY_RATE)
#: our cost columns by kind, in llm_usage column order (cost_usd is their sum)
COST_COLUMNS: tuple[str, ...] = tuple(dict.fromkeys(kind.cost for kind in KINDS))


def _check_table() -> None:
    seen: set[str] = set()
    for kind in KINDS:
        if kind.part_of and kind.part_of not in {k.count for k in KINDS if k.rate in seen}:
            raise RuntimeError(f"kind {kind.rate}: part of {kind.part_of!r}, which no earlier kind counts")
        if kind.fallback and kind.fallback not in seen:
            raise RuntimeError(f"kind {kind.rate}: falls back to {kind.fallback!r}, not an earlier kind's rate")
        if not kind.billed or not kind.meter:
            raise RuntimeError(f"kind {kind.rate}: name the bill line (billed) and its meter")
        seen.add(kind.rate)
    if len(RATE_KEYS) != len(KINDS) or len(set(COUNTS)) != len(COUNTS):
        raise RuntimeError("every kind needs its own rate key and count")


_check_table()


def billed_units(counts: Mapping[str, int]) -> dict[str, int]:
    """Rate key -> the units charged at that rate: each count less the counts that are part of it (a part is
    never taken as larger than its whole); a kind without a count is one per call."""
    columns = billed_unit_columns({name: [counts.get(name, 0)] for name in COUNTS}, 1)
    return {rate: column[0] for rate, column in columns.items()}


def billed_unit_columns(counts: Mapping[str, Sequence[int]], calls: int) -> dict[str, list[int]]:
    """billed_units of a batch of `calls` calls, a column at a time: `counts` holds each count's column."""
    whole: dict[str, Sequence[int]] = {}
    for kind in COUNTED:
        column = counts[kind.count]
        whole[kind.count] = [*map(min, column, whole[kind.part_of])] if kind.part_of else column
    own: dict[str, Sequence[int]] = dict(whole)
    for kind in COUNTED:
        if kind.part_of:
            own[kind.part_of] = [*map(sub, own[kind.part_of], whole[kind.count])]
    return {kind.rate: [count if count > 0 else 0 for count in own[kind.count]] if kind.count else [1] * calls
            for kind in KINDS}
