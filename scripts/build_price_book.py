"""Build the bundled default price book from the price data shipped in the `genai-prices` package.

Usage: python scripts/build_price_book.py [--out PATH] [--snapshot-date YYYY-MM-DD]

genai-prices is needed only here; the receiver reads the YAML with pyyaml. Entries are sorted by id and the
snapshot date is kept from the existing file if built from the same genai-prices version, so a re-run gives
a byte-identical file. The file is checked before it is written; what our schema (docs/pricing.md) cannot
hold is summarised in its header and, per model, on stderr.
"""

from __future__ import annotations

import argparse
import datetime as dt
import re
import sys
from collections import Counter
from decimal import Decimal
from importlib.metadata import version
from pathlib import Path

import yaml
from genai_prices import types as gp
from genai_prices.data import providers as GP_PROVIDERS

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
OUT_FIELDS = (*dict.fromkeys(FIELDS.values()), "per_request")  # the order of the fields in an entry
EXTENDED = ("tiers", "cache_write_1h", "audio_input", "audio_output", "per_request")  # counted for the report
# genai-prices literal clause -> regex template (for case-insensitive fullmatch; genai-prices lower-cases)
LITERAL_CLAUSES = {"equals": "{}", "starts_with": "{}.*", "ends_with": ".*{}", "contains": ".*{}.*"}
DATE_SUFFIXES = ("-20250101", "-2025-01-01")  # appended to literal names to probe patterns for overlaps
DEFAULT_OUT = Path(__file__).resolve().parents[1] / "src/otel_llmcost/pricing/data/default_prices.yaml"
HEADER = """\
# GENERATED FILE - do not edit. Regenerate with: python scripts/build_price_book.py
# genai-prices version: {version}
# snapshot date: {snapshot}
# USD per 1M tokens (per_request: USD per call), exact decimals. Prices without a start date in
# genai-prices get effective_from: {default_from}. Providers (genai-prices -> gen_ai.provider.name):
{providers}
# Fallbacks as in genai-prices: azure.ai.openai gets OpenAI's prices (ids azure/openai/...) and
# Vertex Anthropic's (gcp/anthropic/...) for the models they do not price themselves.
# tiers: genai-prices' tiered prices are cliffs on the call's total input tokens (uncached, cache
# read and cache write, all modalities): above a tier's start, all tokens of that kind take the
# tier's price. A tier here has above_input_tokens = that start and lists the rates it changes.
# service_tier entries (ids ...#batch, #flex, #priority, #fast) hold the full price of genai-prices'
# variants processing=batch, service_tier=flex/priority/fast and Anthropic's speed=fast. genai-prices
# starts most on the day it verified them; here they start with the standard price they go with.
# Time-of-day prices (DeepSeek peak/off-peak) cannot be represented: the price charged for most of
# the UTC day is used; the other is named in a comment on the entry.
# Not represented (genai-prices price key: entries that have it):
{lost}
version: "genai-prices-{version}+{snapshot}"
source: "genai-prices {version} (PyPI), https://github.com/pydantic/genai-prices"
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


def price_at(model: gp.ModelInfo, day: dt.date, ctx: dict | None) -> tuple[gp.ModelPrice, list]:
    """genai-prices' own resolution on `day` (UTC) in request context `ctx`. Where the price depends on the
    time of day (DeepSeek's peak/off-peak hours) we keep the one charged for most of the day (for DeepSeek V3
    its list price, the off-peak one being a discount) and return the others with their minutes a day."""
    by_time = any(isinstance(c, gp.TimeOfDateConstraint) for c in constraints(model))
    seen: dict[str, list] = {}
    for m in range(1440) if by_time else [720]:
        mp = model.get_prices(dt.datetime.combine(day, dt.time(m // 60, m % 60), dt.timezone.utc), ctx)
        seen.setdefault(repr(mp), [mp, 0])[1] += 1
    ranked = sorted(seen.values(), key=lambda v: -v[1])  # stable: ties keep the earlier time of day
    return ranked[0][0], ranked[1:]


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
    if isinstance(getattr(mp, "requests_kcount", None), Decimal):
        out["per_request"] = mp.requests_kcount / 1000  # genai-prices: USD per thousand requests
    lost = [(k, v) for k, v in vars(mp).items() if v is not None and k not in (*FIELDS, "requests_kcount")]
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
    """(price_id, YAML lines) for each price version of the model, standard and per service tier.
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
            if tier and previous is None and prices == standard[n]:
                continue  # genai-prices has no separate price for this tier (yet)
            if prices == previous:
                continue
            first = n  # see the docstring: a tier's first price starts with its standard price
            while tier and previous is None and first and standard[first - 1] == standard[n]:
                first -= 1
            start, previous = days[first], prices
            comments = [
                f"time-of-day price not represented: {summary(o)} for {mins / 60:g} h a day (UTC)"
                for o, mins in others
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
            out.append((pid, entry(pid, comments, served, *rule, start, tier, prices)))
    return out


def summary(mp: gp.ModelPrice) -> str:
    return ", ".join(f"{f} {dec(v)}" for f, v in convert(mp)[0].items() if f != "tiers")


def build() -> list[tuple[str, list[str]]]:
    """(price_id, YAML lines) per entry, sorted by price_id."""
    by_id = {p.id: p for p in GP_PROVIDERS}
    entries = []
    for pid, (prefix, names, fallbacks) in PROVIDERS.items():
        # The models a name of this provider can resolve to, in genai-prices' order: its own, then fallbacks'.
        scope = [(m, "", names) for m in by_id[pid].models]
        scope += [(m, f"{fb}/", fb_names) for fb, fb_names in fallbacks.items() for m in by_id[fb].models]
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
            entries += model_entries(model, key, f"{prefix}/{sub}{model.id}", comment, served, rule, contexts)
    return sorted(entries)


def check(text: str) -> list[str]:
    """What the loader would reject, so a bad build fails here: ids unique, prices exact decimals >= 0,
    tier thresholds positive and ascending, patterns valid."""
    problems, ids = [], Counter()
    for e in yaml.safe_load(text)["prices"]:
        ids[e["id"]] += 1
        if "input" not in e or "output" not in e:
            problems.append(f"{e['id']}: no input or output price")
        for rates in [e, *e.get("tiers", [])]:
            for f in OUT_FIELDS:
                if f in rates and not (isinstance(rates[f], str) and Decimal(rates[f]) >= 0):
                    problems.append(f"{e['id']}: {f} {rates[f]!r} is not a decimal string >= 0")
        starts = [t["above_input_tokens"] for t in e.get("tiers", [])]
        if starts != sorted(set(starts)) or not all(isinstance(s, int) and s > 0 for s in starts):
            problems.append(f"{e['id']}: tier thresholds {starts} not positive and ascending")
        re.compile(e.get("pattern", ""), re.IGNORECASE)
    return problems + [f"duplicate id {i}" for i, n in ids.items() if n > 1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--snapshot-date", help="YYYY-MM-DD; default: kept from --out if same version, or today")
    args = ap.parse_args()
    gp_version = version("genai-prices")
    old = args.out.read_text() if args.out.exists() else ""
    snapshot = args.snapshot_date
    if snapshot is None and f"# genai-prices version: {gp_version}\n" in old:
        snapshot = re.search(r"^# snapshot date: (\S+)$", old, re.MULTILINE).group(1)
    snapshot = snapshot or dt.datetime.now(dt.timezone.utc).date().isoformat()
    entries = build()
    head = HEADER.format(
        version=gp_version,
        snapshot=snapshot,
        default_from=DEFAULT_EFFECTIVE_FROM,
        providers="\n".join(f"#   {p} -> {', '.join(n)}" for p, (_, n, _) in PROVIDERS.items()),
        lost="\n".join(f"#   {k}: {n}" for k, n in sorted(skipped.items())),
    )
    text = "\n".join([head] + [ln for _, lines in entries for ln in lines]) + "\n"
    problems = check(text)
    if problems:
        sys.exit("not written, the price book is invalid:\n  " + "\n  ".join(problems))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    per_provider = Counter(pid.split("/")[0] + "".join(pid.partition("#")[1:]) for pid, _ in entries)
    print(f"wrote {args.out}: {len(entries)} entries {dict(sorted(per_provider.items()))}", file=sys.stderr)
    print(f"entries with extended fields: {dict(sorted(represented.items()))}", file=sys.stderr)
    print("\n".join(["notes:"] + [f"  {n}" for n in notes]), file=sys.stderr)


if __name__ == "__main__":
    main()
