"""The kinds a call is billed by, as providers' bills and FOCUS name them: the one list that reconciliation,
`prices drift` and the FOCUS export derive their columns from.

Each kind has the llm_usage expressions of its quantity and its cost (over `llm_usage AS u`). The quantities
are disjoint and the costs add up to `cost_usd`: our convention counts cache reads and writes, audio and
image tokens inside `input_tokens` and reasoning inside `output_tokens` (pricing/cost.py), while bills list
uncached input, cache reads, cache writes and output apart (reasoning is billed as output everywhere).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class BilledKind:
    name: str
    meter: str  # FOCUS SkuMeter
    unit: str  # FOCUS ConsumedUnit
    pricing_unit: str  # FOCUS PricingUnit; the quantity is divided by its leading number
    quantity: str  # SQL over llm_usage AS u
    cost: str  # SQL over llm_usage AS u (NULL for an unpriced call)

    @property
    def per(self) -> int:
        return int(self.pricing_unit.split(" ", 1)[0])


_MILLION = "1000000 Tokens"
BILLED_KINDS: tuple[BilledKind, ...] = (
    BilledKind("input", "Input Tokens", "Tokens", _MILLION,
               "greatest(toInt64(u.input_tokens) - u.cache_read_tokens - u.cache_write_tokens"
               " - least(u.audio_input_tokens, u.input_tokens) - least(u.image_input_tokens, u.input_tokens), 0)",
               "u.input_cost_usd"),
    BilledKind("cache_read", "Cache Read Input Tokens", "Tokens", _MILLION, "u.cache_read_tokens",
               "u.cache_read_cost_usd"),
    BilledKind("cache_write", "Cache Write Input Tokens", "Tokens", _MILLION, "u.cache_write_tokens",
               "u.cache_write_cost_usd"),
    BilledKind("output", "Output Tokens", "Tokens", _MILLION,
               "greatest(toInt64(u.output_tokens) - least(u.audio_output_tokens, u.output_tokens)"
               " - least(u.image_output_tokens, u.output_tokens), 0)",
               "u.output_cost_usd + u.reasoning_cost_usd"),
    BilledKind("audio", "Audio Tokens", "Tokens", _MILLION, "u.audio_input_tokens + u.audio_output_tokens",
               "u.audio_cost_usd"),
    BilledKind("image", "Image Tokens", "Tokens", _MILLION, "u.image_input_tokens + u.image_output_tokens",
               "u.image_cost_usd"),
    BilledKind("web_search", "Web Searches", "Searches", "1000 Searches", "u.web_searches", "u.search_fee_usd"),
    BilledKind("request", "Requests", "Requests", "1 Requests", "if(u.request_fee_usd > 0, 1, 0)",
               "u.request_fee_usd"),
    BilledKind("file_search", "File Searches", "Calls", "1000 Calls", "u.file_searches", "u.tool_fee_usd"),
    BilledKind("image_generation", "Images", "Images", "1 Images", "u.images", "u.image_fee_usd"),
    BilledKind("audio_duration", "Audio Seconds", "Seconds", "60 Seconds", "u.audio_seconds", "u.audio_fee_usd"),
)
KIND_NAMES = tuple(kind.name for kind in BILLED_KINDS)
#: the kinds a provider bills in tokens
TOKEN_KINDS = tuple(kind.name for kind in BILLED_KINDS if kind.unit == "Tokens")
