"""Build the bundled default price book from the price data shipped in the `genai-prices` package.

Usage: python scripts/build_price_book.py [--out PATH] [--snapshot-date YYYY-MM-DD] [--litellm WHEEL|JSON|none]
                                         [--genai-prices-data JSON]

genai-prices is needed only here; the receiver reads the YAML with pyyaml. The sources, in order, each in its
module beside this one: genai-prices (genai_source.py, with genai_names.py for its match rules), LiteLLM's
price map, which fills only what genai-prices lacks (litellm_source.py), and the cited provider rules of
price_rules.yaml (price_rules.py). Entries are sorted by id and the snapshot
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
from collections import Counter
from decimal import Decimal
from importlib.metadata import version
from pathlib import Path

import yaml

import price_rules
from genai_names import notes, represented, skipped
from genai_source import DEFAULT_EFFECTIVE_FROM, OUT_FIELDS, PROVIDERS, build, dec
from litellm_source import (
    LITELLM_JSON,
    disagreements,
    litellm_added,
    litellm_by_key,
    litellm_notes,
    litellm_pass,
    read_litellm,
)

DEFAULT_OUT = Path(__file__).resolve().parents[1] / "src/otel_llmcost/pricing/data/default_prices.yaml"
HEADER = """\
# GENERATED FILE - do not edit. Regenerate with: python scripts/build_price_book.py --litellm <litellm wheel>
# genai-prices version: {version}
# snapshot date: {snapshot}
# USD per 1M tokens (per_request: USD per call, per_search: USD per web search, per_1k_file_searches: USD per
# 1,000 file searches, per_audio_minute: USD per minute of audio), exact decimals.
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


def q(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"  # single-quoted YAML: regex backslashes stay literal


def rate_lines(prices: dict, indent: str) -> list[str]:
    return [f'{indent}{f}: "{dec(prices[f])}"' for f in OUT_FIELDS if f in prices]


def entry(pid, comments, served, models, pattern, start, tier, prices, uncertain=None, once_per_call=None) -> list[str]:
    lines = [f"  # {c}" for c in comments] + [f"  - id: {q(pid)}"]
    lines.append(f"    provider: {served[0] if len(served) == 1 else '[' + ', '.join(served) + ']'}")
    lines += [f"    models: [{', '.join(q(m) for m in models)}]"] if models else []
    lines += [f"    pattern: {q(pattern)}"] if pattern else []
    lines.append(f"    effective_from: {start.isoformat()}")
    lines += [f"    service_tier: {tier}"] if tier else []
    lines += ["    uncertain:"] + [f"      {kind}: {q(why)}" for kind, why in uncertain.items()] if uncertain else []
    lines += rate_lines(prices, "    ")
    lines += [f"    once_per_call: [{', '.join(once_per_call)}]"] if once_per_call else []
    lines += ["    tiers:"] if "tiers" in prices else []
    for t in prices.get("tiers", []):
        lines += [f"      - above_input_tokens: {t['above_input_tokens']}"] + rate_lines(t, "        ")
    lines += ["    time_of_day:"] if "time_of_day" in prices else []
    for w in prices.get("time_of_day", []):
        lines += [f'      - utc: "{w["utc"]}"'] + rate_lines(w, "        ")
    return lines


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


def genai_data(path: Path) -> list:
    """genai-prices' providers from a data file, read as its own updater reads what it fetches."""
    from genai_prices.types import _providers_from_raw  # what genai_prices.update_prices uses

    raw = json.loads(path.read_text())
    if not isinstance(raw, list):
        sys.exit(f"{path}: not genai-prices data (a JSON list of providers)")
    return _providers_from_raw(raw)


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
    ap.add_argument("--genai-prices-data", type=Path, help="newer genai-prices data: the JSON provider list its "
                    "own updater fetches (prices/new_data/v2/data.json); default: the installed package's data")
    args = ap.parse_args()
    gp_version, providers = version("genai-prices"), None
    if args.genai_prices_data:
        providers = genai_data(args.genai_prices_data)
        gp_version += "+data-" + hashlib.sha256(args.genai_prices_data.read_bytes()).hexdigest()[:8]
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
    entries, scopes, by_key = build(providers)
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
