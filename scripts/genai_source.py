"""genai-prices, the primary source of the bundled price book: its price versions -> our entry specs.

Part of scripts/build_price_book.py. An entry spec is a dict (comments, served, models, pattern, start, tier,
prices), rendered to YAML only at the end, so the LiteLLM pass and the rules can still edit it.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from genai_prices import types as gp
from genai_prices.data import providers as GP_PROVIDERS

from genai_names import convert_scope, notes, represented, skipped

VERTEX = ["gcp.vertex_ai", "gcp.gen_ai"]  # of Google's APIs only Vertex AI serves partner (Claude) models
# genai-prices provider id -> (price_id prefix, OTel gen_ai.provider.name values, fallbacks). Extend here.
# fallbacks {genai-prices provider: OTel names}: whose prices apply to models this provider does not list,
# as genai-prices does it (Azure falls back to OpenAI's prices, Vertex to Anthropic's for Claude).
PROVIDERS = {
    "openai": ("openai", ["openai"], {}),
    "anthropic": ("anthropic", ["anthropic"], {}),
    # genai-prices has one Google provider; it does not tell Gemini API and Vertex AI prices apart.
    "google": ("gcp", ["gcp.gemini", "gcp.vertex_ai", "gcp.gen_ai"], {"anthropic": VERTEX}),
    "aws": ("bedrock", ["aws.bedrock"], {}),
    # genai-prices' Azure prices are those of "Global" deployments (regional ones are often a bit higher).
    "azure": ("azure", ["azure.ai.openai"], {"openai": ["azure.ai.openai"]}),
    "mistral": ("mistral", ["mistral_ai"], {}),
    "cohere": ("cohere", ["cohere"], {}),
    "deepseek": ("deepseek", ["deepseek"], {}),
    "x-ai": ("xai", ["x_ai"], {}),
    "groq": ("groq", ["groq"], {}),
    "together": ("together", ["together_ai"], {}),  # not in the OTel registry: LiteLLM's name
}
# genai-prices price variant (its request-context condition) -> our service_tier. Anthropic's fast mode is a
# request option (speed), not a service tier, but a span can only tell us about it as a tier.
SERVICE_TIERS = {
    ("processing", "batch"): "batch",
    ("service_tier", "flex"): "flex",
    ("service_tier", "priority"): "priority",
    ("service_tier", "fast"): "fast",
    ("speed", "fast"): "fast",
}
DEFAULT_EFFECTIVE_FROM = dt.date(2023, 1, 1)  # for prices that have no start date in genai-prices
# genai-prices price key -> our field, in precedence order: an explicit 5-minute cache-write rate wins over
# the generic one (for Anthropic the generic one is the 5-minute rate; the 1-hour rate has its own key).
FIELDS = {
    "input_mtok": "input",
    "cache_read_mtok": "cache_read",
    "cache_write_mtok": "cache_write",
    "cache_write_5m_mtok": "cache_write",
    "cache_write_1h_mtok": "cache_write_1h",
    "output_mtok": "output",
    "output_reasoning_mtok": "reasoning",
    "input_audio_mtok": "audio_input",
    "output_audio_mtok": "audio_output",
    "input_image_mtok": "image_input",
    "output_image_mtok": "image_output",
}
# genai-prices prices of units other than tokens -> (our field, what its price is divided by to give ours), in
# precedence order: a model's input-audio price per hour wins over its price per hour of audio.
PER_UNIT = {"requests_kcount": ("per_request", 1000), "web_searches_kcount": ("per_search", 1000),
            "storage_searches_kcount": ("per_1k_file_searches", 1),  # OpenAI's file search tool calls
            "input_audio_hours": ("per_audio_minute", 60), "audio_hours": ("per_audio_minute", 60)}
# the order of an entry's fields
OUT_FIELDS = (*dict.fromkeys(FIELDS.values()), *dict.fromkeys(field for field, _ in PER_UNIT.values()))
# counted for the report
EXTENDED = ("tiers", "time_of_day", "cache_write_1h", "audio_input", "audio_output", "image_input", "image_output",
            *dict.fromkeys(field for field, _ in PER_UNIT.values()))


def dec(d: Decimal) -> str:
    """Exact decimal string, no needless trailing zeros, no exponent: 2.50 -> "2.5", 1E+1 -> "10"."""
    return format(d.normalize(), "f")


def constraints(model: gp.ModelInfo) -> list:
    cps = model.prices if isinstance(model.prices, list) else []
    return [cp.constraint for cp in cps] + [pv.constraint for pv in model.price_variants or ()]


def start_dates(model: gp.ModelInfo) -> list[dt.date]:
    """The days a model's price can change: its price versions' and price variants' start dates."""
    days = {c.start_date for c in constraints(model) if isinstance(c, gp.StartDateConstraint)}
    return sorted({DEFAULT_EFFECTIVE_FROM} | {d for d in days if d > DEFAULT_EFFECTIVE_FROM})


def price_at(model: gp.ModelInfo, day: dt.date, ctx: dict | None) -> tuple[gp.ModelPrice, list[tuple]]:
    """genai-prices' own resolution on `day` (UTC) in request context `ctx`. Where the price depends on the
    time of day (DeepSeek's peak/off-peak hours) the one charged for most of the day is returned with the others
    as (first minute, end minute (exclusive, may wrap midnight), price) in UTC."""
    by_time = any(isinstance(c, gp.TimeOfDateConstraint) for c in constraints(model))
    minutes = [model.get_prices(dt.datetime.combine(day, dt.time(m // 60, m % 60), dt.timezone.utc), ctx)
               for m in (range(1440) if by_time else [720])]
    keys = [repr(mp) for mp in minutes]
    main = max(dict.fromkeys(keys), key=keys.count)  # ties keep the earlier time of day
    windows: list[list] = []
    for m, key in enumerate(keys):
        if key == main:
            continue
        if windows and windows[-1][1] == m and repr(windows[-1][2]) == key:
            windows[-1][1] = m + 1
        else:
            windows.append([m, m + 1, minutes[m]])
    wraps = len(windows) > 1 and windows[0][0] == 0 and windows[-1][1] == 1440
    if wraps and repr(windows[0][2]) == repr(windows[-1][2]):
        windows[-1][1] = windows.pop(0)[1]  # one window across midnight
    return minutes[keys.index(main)], [(start, end % 1440, mp) for start, end, mp in windows]


def time_of_day(prices: dict, windows: list[tuple]) -> bool:
    """Adds the windows to prices as "time_of_day" items listing the rates they change; False where our schema
    cannot hold them (an entry has context tiers or time-of-day prices, and a window has no tiers)."""
    items = []
    for start, end, mp in windows:
        other = convert(mp)[0]
        if "tiers" in other or "tiers" in prices or {f for f in prices if f in OUT_FIELDS} - set(other):
            return False  # (a rate the window lacks would be inherited from the entry's)
        utc = f"{start // 60:02}:{start % 60:02}-{end // 60:02}:{end % 60:02}"
        items.append({"utc": utc, **{f: v for f, v in other.items() if v != prices.get(f)}})
    if items:
        prices["time_of_day"] = items
    return True


def convert(mp: gp.ModelPrice) -> tuple[dict, list[tuple[str, object]]]:
    """Our fields for one genai-prices price (with "tiers"), and the genai-prices prices we cannot hold.
    A TieredPrices is a cliff on the call's total input tokens (all modalities, cached or not): above a tier's
    start, all of that kind's tokens take the tier's price. Every kind has its own tiers in genai-prices; we
    merge them by threshold and list in a tier the rates that differ from the entry's (the rest inherit)."""
    out: dict = {}
    tiered: dict[str, gp.TieredPrices] = {}
    for gp_key, field in FIELDS.items():
        val = getattr(mp, gp_key, None)
        if isinstance(val, gp.TieredPrices):
            tiered[field], val = val, val.base
        if val is not None:
            out[field] = val
    taken = set()
    for gp_key, (field, divisor) in PER_UNIT.items():
        value = getattr(mp, gp_key, None)
        if isinstance(value, Decimal) and (field not in out or out[field] == value / divisor):
            out[field] = value / divisor
            taken.add(gp_key)
    lost = [(k, v) for k, v in vars(mp).items() if v is not None and k not in (*FIELDS, *taken)]
    # our one cache-read price covers cached audio too: that is lost only where genai-prices prices it apart
    lost = [(k, v) for k, v in lost if (k, v) != ("cache_audio_read_mtok", out.get("cache_read"))]
    tiers = []
    for start in sorted({t.start for tp in tiered.values() for t in tp.tiers}):
        at = {
            f: next((t.price for t in reversed(tp.tiers) if t.start <= start), tp.base)
            for f, tp in tiered.items()
        }
        changed = {f: p for f, p in at.items() if p != out[f]}
        if changed:  # (a start of 0 would be no tier at all: check() rejects it; genai-prices has none)
            tiers.append({"above_input_tokens": start, **changed})
    if tiers:
        out["tiers"] = tiers
    if out.get("reasoning") == out.get("output") and "reasoning" not in tiered:
        out.pop("reasoning", None)  # carried only where it differs from the output price
    return out, lost


def spec(comments, served, models, pattern, start, tier, prices) -> dict:
    """One price entry as data: rendered by entry() only at the end, so the LiteLLM pass can still edit it."""
    return dict(comments=comments, served=served, models=models, pattern=pattern, start=start, tier=tier,
                prices=prices)


def tier_contexts(model: gp.ModelInfo) -> list[tuple[str, dict]]:
    """(service_tier, genai-prices request context) for each service tier genai-prices prices separately."""
    found: dict[str, dict] = {}
    for pv in model.price_variants or ():
        tier = SERVICE_TIERS.get(next(iter(pv.when.items()))) if len(pv.when) == 1 else None
        if tier:
            found.setdefault(tier, dict(pv.when))
        elif any(v is not None for v in vars(pv.prices).values()):  # service_tier=default has no prices
            skipped[f"price variant {pv.when}"] += 1
    return sorted(found.items())


def model_entries(model, key: str, price_id: str, comment: list, served, rule, contexts) -> list:
    """(price_id, spec) for each price version of the model, standard and per service tier.
    genai-prices starts most tier prices on the day it verified them and prices earlier tier calls at the
    standard rate ("history not modelled"), though batch, flex and priority are older. So a tier's first
    price starts with the standard price it goes with: we assume it held as long as that one did, no longer."""
    out = []
    days = start_dates(model)
    standard = [convert(price_at(model, day, None)[0])[0] for day in days]
    for tier, ctx in contexts:
        previous = None
        for n, day in enumerate(days):
            mp, others = price_at(model, day, ctx)
            prices, lost = convert(mp)
            others = [] if time_of_day(prices, others) else others
            if tier and previous is None and prices == standard[n]:
                continue  # genai-prices has no separate price for this tier (yet)
            if prices == previous:
                continue
            first = n  # see the docstring: a tier's first price starts with its standard price
            while tier and previous is None and first and standard[first - 1] == standard[n]:
                first -= 1
            start, previous = days[first], prices
            comments = [
                f"time-of-day price not represented: {summary(o)} for {(end - start) % 1440 / 60:g} h a day (UTC)"
                for start, end, o in others
            ]
            comments += [
                f"not represented: {k} {dec(getattr(v, 'base', v))}" for k, v in lost if k.endswith("_mtok")
            ]
            if all(v is None for v in vars(mp).values()):  # genai-prices charges nothing
                prices, comments = {"input": Decimal(0), "output": Decimal(0)}, ["free in genai-prices"]
            elif "input" not in prices and "output" not in prices and {f for f, _ in PER_UNIT.values()} & set(prices):
                # priced by the unit only (whisper-1 by the hour of audio): no tokens to charge
                prices = {"input": Decimal(0), "output": Decimal(0), **prices}
                comments.append("priced by its units only (no per-token price in genai-prices)")
            elif "input" not in prices:
                notes.append(f"{key}@{day}{tier and '#' + tier}: no per-token input price ({mp}), skipped")
                skipped["versions without a per-token price (per audio hour, character, page), left out"] += 1
                continue
            elif "output" not in prices:
                prices["output"] = Decimal(0)
                comments.append("input-only model (no output price in genai-prices)")
            skipped.update([k for k, _ in lost] + ["time-of-day price"] * len(others))
            represented.update(f for f in EXTENDED if f in prices)
            comments += comment
            pid = f"{price_id}@{start.isoformat()}" + (f"#{tier}" if tier else "")
            out.append((pid, spec(comments, list(served), list(rule[0]), rule[1], start, tier, prices)))
    return out


def summary(mp: gp.ModelPrice) -> str:
    return ", ".join(f"{f} {dec(v)}" for f, v in convert(mp)[0].items() if f != "tiers")


def build(providers: list | None = None) -> tuple[list[tuple[str, dict]], dict, dict]:
    """(price_id, spec) per entry from genai-prices (its bundled data, or `providers` read from a newer data file);
    per provider its scope (for name resolution); per model key ("<provider>/<fallback/><model id>") the
    (price_id, spec) emitted for it, in date order."""
    by_id = {p.id: p for p in (GP_PROVIDERS if providers is None else providers)}
    entries, scopes, by_key = [], {}, {}
    for pid, (prefix, names, fallbacks) in PROVIDERS.items():
        # The models a name of this provider can resolve to, in genai-prices' order: its own, then fallbacks'.
        scope = [(m, "", names) for m in by_id[pid].models]
        scope += [(m, f"{fb}/", fb_names) for fb, fb_names in fallbacks.items() for m in by_id[fb].models]
        scopes[pid] = scope
        for (model, sub, served), rule in zip(scope, convert_scope(scope, pid), strict=True):
            key = f"{pid}/{sub}{model.id}"
            if rule is None:
                continue
            if pid == "google" and not sub and model.id.startswith("claude-"):
                served = VERTEX
            comment = [f"{sub[:-1]}'s price: genai-prices falls back to it for {pid}"] if sub else []
            comment += ["marked deprecated (still callable) in genai-prices"] if model.deprecated else []
            # genai-prices applies no price variants to a fallback provider's models
            contexts = [("", None)] + ([] if sub else tier_contexts(model))
            by_key[key] = model_entries(model, key, f"{prefix}/{sub}{model.id}", comment, served, rule, contexts)
            entries += by_key[key]
    return entries, scopes, by_key
