"""Build the bundled default price book from the price data shipped in the `genai-prices` package.

Usage: python scripts/build_price_book.py [--out PATH] [--snapshot-date YYYY-MM-DD] [--litellm WHEEL|JSON|none]

genai-prices is needed only here; the receiver reads the YAML with pyyaml. LiteLLM's price map is a secondary
source that fills only what genai-prices lacks (see litellm_pass). Entries are sorted by id and the snapshot
date is kept from the existing file if built from the same genai-prices and LiteLLM versions, so a re-run
gives a byte-identical file. The file is checked before it is written; what our schema (docs/pricing.md) cannot
hold is summarised in its header and, per model, on stderr.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import importlib.util
import json
import re
import sys
import zipfile
from collections import Counter
from decimal import Decimal
from importlib.metadata import version
from pathlib import Path

import yaml
from genai_prices import types as gp
from genai_prices.data import providers as GP_PROVIDERS

import price_rules

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
}
OUT_FIELDS = (*dict.fromkeys(FIELDS.values()), "per_request", "per_search")  # the order of an entry's fields
# genai-prices per-thousand prices -> our per-unit fields
PER_THOUSAND = {"requests_kcount": "per_request", "web_searches_kcount": "per_search"}
# counted for the report
EXTENDED = ("tiers", "time_of_day", "cache_write_1h", "audio_input", "audio_output", "per_request", "per_search")
# genai-prices literal clause -> regex template (for case-insensitive fullmatch; genai-prices lower-cases)
LITERAL_CLAUSES = {"equals": "{}", "starts_with": "{}.*", "ends_with": ".*{}", "contains": ".*{}.*"}
DATE_SUFFIXES = ("-20250101", "-2025-01-01")  # appended to literal names to probe patterns for overlaps
DEFAULT_OUT = Path(__file__).resolve().parents[1] / "src/otel_llmcost/pricing/data/default_prices.yaml"
HEADER = """\
# GENERATED FILE - do not edit. Regenerate with: python scripts/build_price_book.py --litellm <litellm wheel>
# genai-prices version: {version}
# snapshot date: {snapshot}
# USD per 1M tokens (per_request: USD per call, per_search: USD per web search), exact decimals.
# Prices without a start date in genai-prices get effective_from: {default_from}.
# Providers (genai-prices -> gen_ai.provider.name):
{providers}
# Fallbacks as in genai-prices: azure.ai.openai gets OpenAI's prices (ids azure/openai/...) and
# Vertex Anthropic's (gcp/anthropic/...) for the models they do not price themselves.
# tiers: genai-prices' tiered prices are cliffs on the call's total input tokens (uncached, cache
# read and cache write, all modalities): above a tier's start, all tokens of that kind take the
# tier's price. A tier here has above_input_tokens = that start and lists the rates it changes.
# service_tier entries (ids ...#batch, #flex, #priority, #fast) hold the full price of genai-prices'
# variants processing=batch, service_tier=flex/priority/fast and Anthropic's speed=fast. genai-prices
# starts most on the day it verified them; here they start with the standard price they go with.
# Time-of-day prices (DeepSeek's old peak/off-peak hours) are time_of_day items: the price charged
# for most of the UTC day is the entry's, the others list the rates they change in their UTC hours.
# Not represented (genai-prices price key: entries that have it):
{lost}
# litellm version: {lver}
# Secondary source, LiteLLM's model price map (litellm/model_prices_and_context_window_backup.json): it
# only fills what genai-prices lacks and never replaces a genai-prices price. Entries using it have ids
# ending in ~litellm and a comment saying what came from it. LiteLLM has no price history: an addition
# to a genai-prices model (audio rates, context tiers, a service tier, Vertex AI's own price) starts with
# genai-prices' current price of that model, and is made only where LiteLLM's input and output prices
# equal it; a model genai-prices lacks starts {default_from}. Added (entries):
{added}
# price rules: {rules_digest}
# Third source, scripts/price_rules.yaml (the digest above is its SHA-256): published provider rules
# and prices that both databases lack, each cited there. Entries it adds have ids ending in ~rule;
# entries it changes carry a "rule:" comment. Derived prices (a service tier as a share of the standard
# price, a long-context tier as multiples of the base rates) were checked against every matching model
# the databases price that way. Applied:
{rules}
version: "{book_version}"
source: "{source}"
currency: USD
unit: per_million_tokens
prices:"""

skipped = Counter()  # what we dropped -> how many emitted entries / variants had it
represented = Counter()  # EXTENDED fields -> how many entries carry them
notes: list[str] = []  # per-model problems, printed to stderr


def dec(d: Decimal) -> str:
    """Exact decimal string, no needless trailing zeros, no exponent: 2.50 -> "2.5", 1E+1 -> "10"."""
    return format(d.normalize(), "f")


def q(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"  # single-quoted YAML: regex backslashes stay literal


def literal(s: str) -> str:
    return re.sub(r"([.^$*+?{}\[\]\\|()])", r"\\\1", s)  # re.escape also escapes '-': noise in model ids


def top_level_bar(rx: str) -> bool:
    """Whether rx has an alternation '|' outside any group (then it cannot simply be concatenated)."""
    rx = re.sub(r"\[[^\]]*\]", "", re.sub(r"\\.", "", rx))  # drop escapes, then character classes
    while re.search(r"\([^()]*\)", rx):
        rx = re.sub(r"\([^()]*\)", "", rx)  # drop groups, innermost first
    return "|" in rx


def group(rx: str) -> str:
    return f"(?:{rx})" if top_level_bar(rx) else rx


def search_to_fullmatch(rx: str) -> str:
    """genai-prices runs re.search(rx) on the lower-cased id; we run a case-insensitive fullmatch."""
    # A literal upper-case letter never matches a lower-cased id but would under IGNORECASE, unless its
    # lower-case twin sits in the same class (e.g. [tT]). Such a regex cannot be carried over faithfully.
    bare = re.sub(r"\\.", "", rx)
    classes = re.findall(r"\[[^\]]*\]", bare)
    if any(c.isupper() for c in re.sub(r"\[[^\]]*\]", "", bare)) or any(
        c.isupper() and c.lower() not in cls for cls in classes for c in cls
    ):
        raise ValueError(f"case-sensitive regex {rx!r}")
    if top_level_bar(rx):  # keep any anchors inside a group: '^' / '$' still only match at the ends
        return f".*(?:{rx}).*"
    body = rx[1:] if rx.startswith("^") else ".*" + rx
    return body[:-1] if body.endswith("$") and not body.endswith("\\$") else body + ".*"


def to_regex(c) -> str:
    """One genai-prices match clause (matched on the lower-cased id) as a regex for re.fullmatch(re.IGNORECASE)."""
    for attr, template in LITERAL_CLAUSES.items():
        if hasattr(c, attr):
            return template.format(literal(getattr(c, attr)))
    if isinstance(c, gp.ClauseRegex):
        return search_to_fullmatch(c.regex)
    if isinstance(c, gp.ClauseOr):
        return "|".join(to_regex(s) for s in c.or_)
    if isinstance(c, gp.ClauseAnd):  # all but the last clause become lookaheads at position 0
        *heads, last = [to_regex(s) for s in c.and_]
        out = ""
        for h in heads:  # "X.*" only needs (?=X)
            simple = h.endswith(".*") and not h.endswith("\\.*") and not top_level_bar(h[:-2])
            out += f"(?={h[:-2]})" if simple else f"(?=(?:{h})\\Z)"
        return out + group(last)
    raise ValueError(f"unknown clause {c!r}")


def literals(c) -> list[str]:
    """The literal names in a match rule: what a model is typically called, to probe patterns with."""
    found = [getattr(c, a) for a in LITERAL_CLAUSES if hasattr(c, a)]
    return found + [s for sub in getattr(c, "or_", []) + getattr(c, "and_", []) for s in literals(sub)]


def bare_id(model: gp.ModelInfo) -> str:
    # genai-prices writes Bedrock's in-region model ids as "regional.<id>", a placeholder: "<id>" is the id.
    return model.id.removeprefix("regional.")


def convert_match(model: gp.ModelInfo, resolve, key: str) -> tuple[list[str], str | None]:
    """Split the model's match rule into exact ids (`models`) and a `pattern` for everything else."""
    clauses = model.match.or_ if isinstance(model.match, gp.ClauseOr) else [model.match]
    rest = [c for c in clauses if not isinstance(c, gp.ClauseEquals)]
    pattern = None
    try:
        pattern = (to_regex(gp.ClauseOr(or_=rest)) if len(rest) > 1 else to_regex(rest[0])) if rest else None
        re.compile(pattern or "")
    except (ValueError, re.error) as e:
        pattern = None
        notes.append(f"{key}: match rule not converted ({e}); only exact ids kept")
    exact = sorted(c.equals for c in clauses if isinstance(c, gp.ClauseEquals))
    models: list[str] = []
    for m in [bare_id(model)] + exact:  # keep an id only where genai-prices resolves it to this very model
        if m not in models and resolve(m) is model:
            models.append(m)
        # genai-prices also resolves compact dates (LiteLLM's gpt-4o-20240806) to the dashed id; we list them
        compact = re.sub(r"-(20\d\d)-(\d\d)-(\d\d)(?=$|[-:])", r"-\1\2\3", m)
        if compact != m and m in models and compact not in models and resolve(compact) is None:
            models.append(compact)
    return models, pattern


def convert_scope(scope: list[tuple], key: str) -> list[tuple[list[str], str | None] | None]:
    """(models, pattern) per scope model, or None where no name reaches it. genai-prices resolves a name to
    the first model in scope order that matches; our loader prefers exact ids, then the matching pattern with
    the latest date. So a pattern excludes (by negative lookahead) the earlier patterns it overlaps, judged
    on the literal names in genai-prices' rules (a name two patterns match belongs to the earlier one)."""
    resolve = lambda name: next((m for m, *_ in scope if m.is_match(name)), None)
    rules = [convert_match(m, resolve, f"{key}/{sub}{m.id}") for m, sub, _ in scope]
    own = [
        {w.lower() + s for w in literals(m.match) + [bare_id(m)] for s in ("", *DATE_SUFFIXES)}
        for m, *_ in scope
    ]
    probes = sorted(set().union(*own))
    compiled = [re.compile(p, re.IGNORECASE) if p else None for _, p in rules]
    overlaps: list[set[int]] = [set() for _ in scope]
    for w in probes:
        hits = [i for i, rx in enumerate(compiled) if rx and rx.fullmatch(w)]
        for n, i in enumerate(hits):
            overlaps[i].update(hits[:n])
    out = []
    for i, ((models, pattern), (model, sub, _)) in enumerate(zip(rules, scope)):
        if not models and not pattern or not models and not any(resolve(w) is model for w in own[i]):
            # e.g. OpenAI's o1 under Azure: Azure's own o1 takes all its names
            notes.append(f"{key}/{sub}{model.id}: no id or pattern of its own, skipped")
            out.append(None)
            continue
        heads = "".join(f"(?!{group(rules[j][1])}\\Z)" for j in sorted(overlaps[i]))
        out.append((models, heads + group(pattern) if heads else pattern))
    return out


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
    for gp_key, field in PER_THOUSAND.items():
        if isinstance(getattr(mp, gp_key, None), Decimal):
            out[field] = getattr(mp, gp_key) / 1000
    lost = [(k, v) for k, v in vars(mp).items() if v is not None and k not in (*FIELDS, *PER_THOUSAND)]
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


def rate_lines(prices: dict, indent: str) -> list[str]:
    return [f'{indent}{f}: "{dec(prices[f])}"' for f in OUT_FIELDS if f in prices]


def spec(comments, served, models, pattern, start, tier, prices) -> dict:
    """One price entry as data: rendered by entry() only at the end, so the LiteLLM pass can still edit it."""
    return dict(comments=comments, served=served, models=models, pattern=pattern, start=start, tier=tier,
                prices=prices)


def entry(pid, comments, served, models, pattern, start, tier, prices) -> list[str]:
    lines = [f"  # {c}" for c in comments] + [f"  - id: {q(pid)}"]
    lines.append(f"    provider: {served[0] if len(served) == 1 else '[' + ', '.join(served) + ']'}")
    lines += [f"    models: [{', '.join(q(m) for m in models)}]"] if models else []
    lines += [f"    pattern: {q(pattern)}"] if pattern else []
    lines.append(f"    effective_from: {start.isoformat()}")
    lines += [f"    service_tier: {tier}"] if tier else []
    lines += rate_lines(prices, "    ") + (["    tiers:"] if "tiers" in prices else [])
    for t in prices.get("tiers", []):
        lines += [f"      - above_input_tokens: {t['above_input_tokens']}"] + rate_lines(t, "        ")
    lines += ["    time_of_day:"] if "time_of_day" in prices else []
    for w in prices.get("time_of_day", []):
        lines += [f'      - utc: "{w["utc"]}"'] + rate_lines(w, "        ")
    return lines


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


def build() -> tuple[list[tuple[str, dict]], dict, dict]:
    """(price_id, spec) per entry from genai-prices; per provider its scope (for name resolution); per model key
    ("<provider>/<fallback/><model id>") the (price_id, spec) emitted for it, in date order."""
    by_id = {p.id: p for p in GP_PROVIDERS}
    entries, scopes, by_key = [], {}, {}
    for pid, (prefix, names, fallbacks) in PROVIDERS.items():
        # The models a name of this provider can resolve to, in genai-prices' order: its own, then fallbacks'.
        scope = [(m, "", names) for m in by_id[pid].models]
        scope += [(m, f"{fb}/", fb_names) for fb, fb_names in fallbacks.items() for m in by_id[fb].models]
        scopes[pid] = scope
        for (model, sub, served), rule in zip(scope, convert_scope(scope, pid)):
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


# ---- LiteLLM: the secondary source ------------------------------------------------------------------------
# LiteLLM's model price map fills only what genai-prices lacks (audio rates, context-length tiers, batch/flex/
# priority prices, models genai-prices does not list). It never replaces a genai-prices price: where both price
# the same provider/model/kind differently, genai-prices' price is kept and the disagreement goes to stderr.
# LiteLLM keeps one current price per name and no history, so what it adds to a genai-prices model is dated
# from genai-prices' current price version of that model (and only added when LiteLLM's input and output
# prices equal that version's: otherwise LiteLLM's extras belong to some other price); a model genai-prices
# lacks starts at DEFAULT_EFFECTIVE_FROM. Its entries' ids end in "~litellm".
LITELLM_JSON = "litellm/model_prices_and_context_window_backup.json"
# LiteLLM litellm_provider -> (genai-prices provider to resolve its names in, our price_id prefix, OTel names).
# Vertex AI's partner-model providers (vertex_ai-anthropic_models, ...) are all "vertex_ai" here.
LITELLM_PROVIDERS = {
    "openai": ("openai", "openai", ["openai"]),
    "anthropic": ("anthropic", "anthropic", ["anthropic"]),
    "vertex_ai": ("google", "gcp/vertex", ["gcp.vertex_ai"]),
    "gemini": ("google", "gcp/gemini", ["gcp.gemini"]),
    "bedrock": ("aws", "bedrock", ["aws.bedrock"]),
    "bedrock_converse": ("aws", "bedrock", ["aws.bedrock"]),
    "azure": ("azure", "azure", ["azure.ai.openai"]),
    "mistral": ("mistral", "mistral", ["mistral_ai"]),
    "cohere": ("cohere", "cohere", ["cohere"]),
    "cohere_chat": ("cohere", "cohere", ["cohere"]),
    "deepseek": ("deepseek", "deepseek", ["deepseek"]),
    "xai": ("x-ai", "xai", ["x_ai"]),
    "groq": ("groq", "groq", ["groq"]),
    "together_ai": ("together", "together", ["together_ai"]),
}
LITELLM_SAME = {"bedrock_converse": "bedrock", "cohere_chat": "cohere"}  # one provider, two LiteLLM APIs: merged
# Where a model id itself has a "/" (org/model). Elsewhere a "/" left after the provider prefix is a route,
# region or commitment path (azure/eu/..., bedrock/us-east-1/..., bedrock/invoke/...): not a list price we use.
LITELLM_SLASH_NAMES = {"vertex_ai", "groq", "together_ai"}
LITELLM_MODES = {"chat", "completion", "responses", "embedding"}  # token-priced calls; not images, speech, ...
# LiteLLM per-token price key stem -> our field. A key is stem [_above_<N>k_tokens] [_batches|_flex|_priority].
LITELLM_FIELDS = {
    "input_cost_per_token": "input",
    "output_cost_per_token": "output",
    "cache_read_input_token_cost": "cache_read",
    "cache_creation_input_token_cost": "cache_write",  # Anthropic: the 5-minute rate
    "cache_creation_input_token_cost_above_1hr": "cache_write_1h",
    "input_cost_per_audio_token": "audio_input",
    "output_cost_per_audio_token": "audio_output",
    "output_cost_per_reasoning_token": "reasoning",
}
LITELLM_TIERS = {"batches": "batch", "flex": "flex", "priority": "priority"}
LITELLM_KEY = re.compile(  # longest stem first, so "..._above_1hr" is a stem and not a context tier
    r"(?P<stem>{})(?:_above_(?P<k>\d+)k_tokens)?(?:_(?P<tier>{}))?".format(
        "|".join(sorted(LITELLM_FIELDS, key=len, reverse=True)), "|".join(LITELLM_TIERS)
    )
)
LOADER_REGION = re.compile(r"^(us|eu|apac|au|ca|jp|us-gov|global)\.(?=[a-z0-9-]+\.)")  # as models.py strips
MICRO = Decimal("0.000001")

disagreements: list[str] = []  # genai-prices kept, LiteLLM differs: printed to stderr
litellm_notes: list[str] = []  # what LiteLLM could not fill, and why
litellm_added = Counter()  # what the LiteLLM pass added, for the header
litellm_by_key: dict[str, list] = {}  # genai-prices model key -> the (price_id, spec) LiteLLM added to it


def read_litellm(path: Path) -> tuple[dict, str]:
    """LiteLLM's price map and version, from a wheel, an installed package's file, or the JSON itself."""
    if path.suffix == ".whl":
        with zipfile.ZipFile(path) as whl:
            meta = next(n for n in whl.namelist() if n.endswith(".dist-info/METADATA"))
            ver = re.search(r"^Version: (\S+)$", whl.read(meta).decode(), re.MULTILINE).group(1)
            return json.loads(whl.read(LITELLM_JSON)), ver
    m = re.search(r"litellm-(\d[^-/]*)(?:\.dist-info|-)", str(path))  # the file's own version, if its path says
    return json.loads(path.read_text()), m.group(1) if m else "unknown"


def per_million(value, where: str) -> Decimal | None:
    """LiteLLM's USD per token (a binary float) -> exact USD per million tokens. Its shortest repr is what its
    authors typed (3e-06), so Decimal(repr) is exact; a value not clean at 6 decimals per million
    (8.900000000000001e-07) is float noise from arithmetic, and is rejected rather than guessed at."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        litellm_notes.append(f"{where}: not a number ({value!r}), ignored")
        return None
    d = Decimal(repr(float(value))) * 1_000_000
    if d < 0 or d != d.quantize(MICRO):
        litellm_notes.append(f"{where}: {value!r} is negative or not a clean decimal per million tokens ({d}), ignored")
        return None
    return d.normalize()


def litellm_flat(key: str, info: dict) -> dict[tuple[str, int, str], Decimal]:
    """(service tier, context threshold, field) -> price per million; tier "" and threshold 0 = the base."""
    flat = {}
    for k, v in info.items():
        m = LITELLM_KEY.fullmatch(k)
        if m:
            price = per_million(v, f"litellm {key} {k}")
            if price is not None:
                tier = LITELLM_TIERS.get(m["tier"] or "", "")
                flat[(tier, int(m["k"] or 0) * 1000, LITELLM_FIELDS[m["stem"]])] = price
    return flat


def litellm_records(data: dict) -> dict[tuple[str, str], dict]:
    """(LiteLLM provider, model name) -> {"flat", "keys"}. Keys naming the same model ("deepseek-chat" and
    "deepseek/deepseek-chat") are merged; a price they disagree on is left out."""
    out: dict[tuple[str, str], dict] = {}
    for key in sorted(data):
        info = data[key]
        if not isinstance(info, dict) or info.get("mode") not in LITELLM_MODES:
            continue
        lp = str(info.get("litellm_provider", ""))
        lp = "vertex_ai" if lp.startswith("vertex_ai") else LITELLM_SAME.get(lp, lp)
        if lp not in LITELLM_PROVIDERS:
            continue
        first, _, rest = key.partition("/")
        name = rest if rest and (first in LITELLM_PROVIDERS or first == "vertex_ai") else key
        if "/" in name and lp not in LITELLM_SLASH_NAMES:
            continue  # a route/region/commitment path, see LITELLM_SLASH_NAMES
        flat = litellm_flat(key, info)
        rec = out.setdefault((lp, name.lower()), {"name": name, "flat": {}, "keys": [], "conflicts": set()})
        for k, v in flat.items():
            if k in rec["conflicts"]:
                continue
            if k in rec["flat"] and rec["flat"][k] != v:
                litellm_notes.append(f"litellm {rec['keys']} and {key} disagree on {k}: left out")
                rec["conflicts"].add(k)
                del rec["flat"][k]
            else:
                rec["flat"][k] = v
        rec["keys"].append(key)
    return out


def flat_to_prices(flat: dict, tier: str) -> dict | None:
    """Our fields (with "tiers") for one service tier of a flat LiteLLM price, or None without input+output.
    A tier lists only the rates it changes, as convert() does for genai-prices."""
    base = {f: v for (t, k, f), v in flat.items() if t == tier and k == 0}
    if "input" not in base or "output" not in base:
        return None
    prices = {f: base[f] for f in OUT_FIELDS if f in base}
    tiers = []
    for start in sorted({k for (t, k, _) in flat if t == tier and k}):
        changed = {f: v for (t, k, f), v in flat.items() if t == tier and k == start and v != base.get(f)}
        if changed:
            tiers.append({"above_input_tokens": start, **{f: changed[f] for f in OUT_FIELDS if f in changed}})
    if tiers:
        prices["tiers"] = tiers
    if prices.get("reasoning") == prices["output"] and not any("reasoning" in t for t in tiers):
        prices.pop("reasoning", None)  # carried only where it differs from the output price
    return prices


def tiers_flat(prices: dict) -> dict[tuple[int, str], Decimal]:
    return {(t["above_input_tokens"], f): v for t in prices.get("tiers", []) for f, v in t.items() if f in OUT_FIELDS}


def compare(where: str, ours: dict, theirs: dict) -> None:
    """Record where LiteLLM prices a kind genai-prices also prices, differently (genai-prices is kept)."""
    for f in OUT_FIELDS:
        if f in ours and f in theirs and ours[f] != theirs[f]:
            disagreements.append(f"{where} {f}: genai-prices {dec(ours[f])}, LiteLLM {dec(theirs[f])}")
    a, b = tiers_flat(ours), tiers_flat(theirs)
    for k in sorted(set(a) & set(b)):
        if a[k] != b[k]:
            disagreements.append(f"{where} {k[1]} above {k[0]}: genai-prices {dec(a[k])}, LiteLLM {dec(b[k])}")
    if a and b and set(a) != set(b):
        disagreements.append(f"{where}: context tiers differ ({sorted(a)} vs {sorted(b)})")


def litellm_pass(scopes, by_key, data, lver):
    """Yields (price_id, spec) for what LiteLLM adds; also takes from genai-prices entries the names (or the provider)
    that a LiteLLM entry now prices, so that no two entries tie for a name at the same start."""
    src = f"LiteLLM {lver}"
    records = litellm_records(data)
    resolvers = {
        pid: (lambda name, scope=scope: next(((m, sub) for m, sub, _ in scope if m.is_match(name.lower())), None))
        for pid, scope in scopes.items()
    }
    extend: dict[tuple, list] = {}  # (model key, LiteLLM provider, entry content) -> names
    new: dict[tuple, list] = {}  # (LiteLLM provider, base name, flat) -> names
    for (lp, _), rec in sorted(records.items()):
        pid, prefix, served = LITELLM_PROVIDERS[lp]
        name, flat = rec["name"], rec["flat"]
        hit = resolvers[pid](name)
        if hit is None:
            base = LOADER_REGION.sub("", name.lower())
            new.setdefault((lp, base, tuple(sorted(flat.items()))), []).append(name)
            continue
        model, sub = hit
        key = f"{pid}/{sub}{model.id}"
        if key not in by_key:
            litellm_notes.append(f"{lp}/{name}: genai-prices resolves it to {key}, which is not in the book")
            continue
        versions = by_key[key]
        std_pid, std = [(i, s) for i, s in versions if not s["tier"]][-1]  # genai-prices' current price
        where = f"{lp}/{name} vs {std_pid}"
        theirs = flat_to_prices(flat, "")
        if theirs is None:
            continue
        anchor = all(theirs[f] == std["prices"][f] for f in ("input", "output"))
        if not anchor:
            # Vertex AI: genai-prices has one Google provider and one price per Gemini model, in effect the Gemini
            # API's (it cites both price pages). Where LiteLLM's Vertex price for a Gemini model differs from it,
            # and LiteLLM's Gemini API price agrees with genai-prices or is gone (LiteLLM drops shut-down models
            # from the Gemini API list), Vertex has a price of its own, which genai-prices lacks: it gets an
            # entry of its own. Not for partner models (Claude): genai-prices prices those from Anthropic's list.
            gem = records.get(("gemini", name.lower()))
            gem_prices = flat_to_prices(gem["flat"], "") if gem else None
            if (lp == "vertex_ai" and not sub and model.id.startswith("gemini")
                    and name.lower() == bare_id(model).lower() and "gcp.vertex_ai" in std["served"]
                    and (gem is None or gem_prices
                         and all(gem_prices[f] == std["prices"][f] for f in ("input", "output")))):
                litellm_notes.append(f"{where}: taken as Vertex AI's own price (input {dec(theirs['input'])},"
                                     f" output {dec(theirs['output'])}); genai-prices' kept for the others")
                std["served"] = [s for s in std["served"] if s != "gcp.vertex_ai"]
                std["comments"] = std["comments"] + [f"not for gcp.vertex_ai: it has its own price (from {src})"]
                comments = [f"from {src}: Vertex AI's own price (genai-prices' {std_pid} is the Gemini API's,"
                            f" which LiteLLM {'lists no more' if gem is None else 'agrees with'}); dated from it"]
                pid_v = f"gcp/vertex/{model.id}@{std['start'].isoformat()}~litellm"
                litellm_added["Vertex AI's own price for a genai-prices model"] += 1
                yield pid_v, spec(comments, ["gcp.vertex_ai"], std["models"], std["pattern"], std["start"], "",
                                  theirs)
                continue
            compare(where, std["prices"], theirs)
            litellm_notes.append(f"{where}: input/output differ, so LiteLLM's extras are not added")
            continue
        compare(where, std["prices"], theirs)
        content = []  # what this name would add: standard fields, context tiers, service-tier entries
        add = {f: v for f, v in theirs.items() if f in OUT_FIELDS and f not in std["prices"]}
        for f in [f for f, v in add.items() if v == 0]:
            del add[f]  # LiteLLM writes 0.0 for "not applicable" (DeepSeek cache writes): not a price to fill
        if "tiers" in theirs and "tiers" not in std["prices"]:
            add["tiers"] = theirs["tiers"]
        if add:
            content.append(("", tuple(sorted((f, repr(v)) for f, v in add.items()))))
        genai_tiers = {s["tier"]: s for _, s in versions if s["tier"]}
        for tier in sorted(set(LITELLM_TIERS.values())):
            tp = flat_to_prices(flat, tier)
            if tp is None:
                continue
            if tier in genai_tiers:
                compare(f"{where}#{tier}", genai_tiers[tier]["prices"], tp)
            else:
                content.append((tier, tuple(sorted((f, repr(v)) for f, v in tp.items()))))
        for c in content:  # names that would get the very same addition share one entry
            extra = add if not c[0] else flat_to_prices(flat, c[0])
            extend.setdefault((key, lp, c), []).append((name, std_pid, std, c[0], extra, model.id))
    for (key, lp, _), named in sorted(extend.items(), key=lambda kv: (kv[0][0], kv[0][1], repr(kv[0][2]))):
        pid, prefix, served = LITELLM_PROVIDERS[lp]
        names = sorted({n for n, *_ in named}, key=lambda n: (len(n), n))
        _, std_pid, std, tier, extra, _ = named[0]
        gp_prefix = std_pid[: std_pid.rindex(named[0][5] + "@")]  # e.g. "azure/openai/", as genai-prices' id
        if pid == "google":  # one genai-prices provider, two of LiteLLM's: "gcp/x" -> "gcp/gemini/x", "gcp/vertex/x"
            gp_prefix = prefix + gp_prefix[len("gcp"):]
        if not tier:
            # A name genai-prices lists exactly would tie with this entry: it moves here, unless the genai-prices
            # entry also serves providers this one does not (the name would then go unpriced for them).
            taken = [n for n in names if n.lower() in {m.lower() for m in std["models"]}]
            if taken and not set(std["served"]) <= set(served):
                litellm_notes.append(f"{lp}/{taken}: listed by {std_pid} for {std['served']}, not extended")
                names = [n for n in names if n not in taken]
            elif taken:
                std["models"] = [m for m in std["models"] if m.lower() not in {t.lower() for t in taken}]
                if not std["models"] and not std["pattern"]:  # the LiteLLM entry holds all its prices: dropped
                    litellm_notes.append(f"{std_pid}: all its names now priced by LiteLLM entries, left out")
            if not names:
                continue
            prices = {**std["prices"], **extra}
            prices = {f: prices[f] for f in (*OUT_FIELDS, "tiers", "time_of_day") if f in prices}
            what = ", ".join(f for f in (*OUT_FIELDS, "tiers") if f in extra)
            comments = [f"from {src}: {what} added to genai-prices' {std_pid} (the rest), dated from it"]
            litellm_added[f"{what} added to a genai-prices model"] += 1
        else:
            prices = extra
            comments = [f"from {src}: {tier} price, dated from genai-prices' standard {std_pid}"]
            litellm_added[f"{tier} price for a genai-prices model"] += 1
        served_here = [s for s in served if s in std["served"]] or served
        pid_new = f"{gp_prefix}{names[0]}@{std['start'].isoformat()}" + (f"#{tier}" if tier else "") + "~litellm"
        litellm_by_key.setdefault(key, []).append((pid_new, spec(comments, served_here, names, None, std["start"],
                                                                 tier, prices)))
        yield litellm_by_key[key][-1]
    for (lp, base, flat_items), names in sorted(new.items(), key=lambda kv: (kv[0][0], kv[0][1], repr(kv[0][2]))):
        pid, prefix, served = LITELLM_PROVIDERS[lp]
        flat = dict(flat_items)
        names = sorted(names, key=lambda n: (len(n), n))
        if not flat or all(v == 0 for v in flat.values()):
            litellm_notes.append(f"{lp}/{names}: no non-zero price in LiteLLM, left out")
            continue
        for tier in ["", *sorted(set(LITELLM_TIERS.values()))]:
            prices = flat_to_prices(flat, tier)
            if prices is None:
                if not tier:
                    litellm_notes.append(f"{lp}/{names}: no input and output price in LiteLLM, left out")
                    break
                continue
            pid_new = f"{prefix}/{names[0]}@{DEFAULT_EFFECTIVE_FROM.isoformat()}" + (f"#{tier}" if tier else "")
            comments = [f"from {src}: not in genai-prices (no price history: start assumed)"]
            litellm_added[f"{tier or 'standard'} price for a model genai-prices lacks"] += 1
            yield pid_new + "~litellm", spec(comments, served, names, None, DEFAULT_EFFECTIVE_FROM, tier, prices)


def check(text: str) -> list[str]:
    """What the loader would reject, so a bad build fails here: ids unique, prices exact decimals >= 0,
    tier thresholds positive and ascending, patterns valid."""
    problems, ids = [], Counter()
    for e in yaml.safe_load(text)["prices"]:
        ids[e["id"]] += 1
        if "input" not in e or "output" not in e:
            problems.append(f"{e['id']}: no input or output price")
        for rates in [e, *e.get("tiers", []), *e.get("time_of_day", [])]:
            for f in OUT_FIELDS:
                if f in rates and not (isinstance(rates[f], str) and Decimal(rates[f]) >= 0):
                    problems.append(f"{e['id']}: {f} {rates[f]!r} is not a decimal string >= 0")
        starts = [t["above_input_tokens"] for t in e.get("tiers", [])]
        if starts != sorted(set(starts)) or not all(isinstance(s, int) and s > 0 for s in starts):
            problems.append(f"{e['id']}: tier thresholds {starts} not positive and ascending")
        re.compile(e.get("pattern", ""), re.IGNORECASE)
    return problems + [f"duplicate id {i}" for i, n in ids.items() if n > 1]


def default_litellm() -> Path | None:
    """The price map of an installed litellm, found without importing it (slow, and not needed)."""
    spec_ = importlib.util.find_spec("litellm")
    path = spec_ and spec_.origin and Path(spec_.origin).parent / Path(LITELLM_JSON).name
    return path if path and path.exists() else None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--snapshot-date", help="YYYY-MM-DD; default: kept from --out if same versions, or today")
    ap.add_argument("--litellm", type=Path, help="LiteLLM wheel (.whl) or its model price JSON, the secondary "
                    "source; default: the installed litellm's; --litellm none: genai-prices only")
    args = ap.parse_args()
    gp_version = version("genai-prices")
    lpath = args.litellm if args.litellm else default_litellm()
    lpath = None if lpath and str(lpath) == "none" else lpath
    data, lver = read_litellm(lpath) if lpath else ({}, "")
    if lpath and lpath.suffix != ".whl" and lver == "unknown":
        try:
            lver = version("litellm")  # the installed package's file
        except Exception:
            pass
    if not lpath and args.litellm is None:  # a silent genai-prices-only book would drop LiteLLM's entries
        sys.exit("no LiteLLM price map: pass --litellm <litellm wheel or JSON>, or --litellm none")
    old = args.out.read_text() if args.out.exists() else ""
    snapshot = args.snapshot_date
    rules_digest = hashlib.sha256(price_rules.RULES.read_bytes()).hexdigest()[:8]
    same = all(f"# {line}\n" in old for line in (
        f"genai-prices version: {gp_version}", f"litellm version: {lver or 'none'}", f"price rules: {rules_digest}"))
    if snapshot is None and same:
        snapshot = re.search(r"^# snapshot date: (\S+)$", old, re.MULTILINE).group(1)
    snapshot = snapshot or dt.datetime.now(dt.timezone.utc).date().isoformat()
    entries, scopes, by_key = build()
    added = list(litellm_pass(scopes, by_key, data, lver)) if data else []  # edits genai-prices specs: run first
    ruled, rule_report, rule_problems = price_rules.apply(price_rules.load(), by_key, litellm_by_key, PROVIDERS,
                                                          DEFAULT_EFFECTIVE_FROM)
    if rule_problems:
        sys.exit("not written, scripts/price_rules.yaml disagrees with the databases:\n  " + "\n  ".join(rule_problems))
    entries = [(pid, sp) for pid, sp in entries if sp["models"] or sp["pattern"]]  # see litellm_pass
    entries = sorted(entries + added + ruled, key=lambda e: e[0])  # check() reports any duplicate id
    head = HEADER.format(
        version=gp_version,
        lver=lver or "none",
        snapshot=snapshot,
        default_from=DEFAULT_EFFECTIVE_FROM,
        providers="\n".join(f"#   {p} -> {', '.join(n)}" for p, (_, n, _) in PROVIDERS.items()),
        lost="\n".join(f"#   {k}: {n}" for k, n in sorted(skipped.items())),
        added="\n".join(f"#   {k}: {n}" for k, n in sorted(litellm_added.items())) or "#   (none)",
        rules="\n".join(f"#   {price_rules.REPORTED[k]}: {n}"
                         for k, n in sorted(Counter(r.split(" ")[0] for r in rule_report).items())),
        rules_digest=rules_digest,
        book_version=f"genai-prices-{gp_version}" + (f"+litellm-{lver}" if lver else "") + f"+rules-{rules_digest}"
        + f"+{snapshot}",
        source=f"genai-prices {gp_version} (PyPI), https://github.com/pydantic/genai-prices"
        + (f"; gaps filled from LiteLLM {lver} (PyPI), https://github.com/BerriAI/litellm" if lver else ""),
    )
    text = "\n".join([head] + [ln for pid, sp in entries for ln in entry(pid, **sp)]) + "\n"
    problems = check(text)
    if problems:
        sys.exit("not written, the price book is invalid:\n  " + "\n  ".join(problems))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    per_provider = Counter(pid.split("/")[0] + "".join(pid.partition("#")[1:]) for pid, _ in entries)
    print(f"wrote {args.out}: {len(entries)} entries {dict(sorted(per_provider.items()))}", file=sys.stderr)
    print(f"entries with extended fields: {dict(sorted(represented.items()))}", file=sys.stderr)
    print(f"from LiteLLM {lver}: {dict(sorted(litellm_added.items()))}", file=sys.stderr)
    print("\n".join(["price_rules.yaml:"] + [f"  {r}" for r in rule_report]), file=sys.stderr)
    print("\n".join(["notes:"] + [f"  {n}" for n in notes]), file=sys.stderr)
    print("\n".join(["LiteLLM not used:"] + [f"  {n}" for n in sorted(set(litellm_notes))]), file=sys.stderr)
    print("\n".join([f"genai-prices and LiteLLM disagree (genai-prices kept): {len(set(disagreements))}"]
                    + [f"  {d}" for d in sorted(set(disagreements))]), file=sys.stderr)


if __name__ == "__main__":
    main()
