"""Build the bundled default price book from the price data shipped in the `genai-prices` package.

Usage: python scripts/build_price_book.py [--out PATH] [--snapshot-date YYYY-MM-DD]

genai-prices is needed only here; the receiver reads the YAML with pyyaml. Entries are sorted by id and the
snapshot date is kept from the existing file if built from the same genai-prices version, so a re-run gives
a byte-identical file. What our schema cannot hold is summarised on stderr.
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

from genai_prices import types as gp
from genai_prices.data import providers as GP_PROVIDERS

# genai-prices provider id -> (price_id prefix, OTel gen_ai.provider.name values). Extend here.
PROVIDERS = {
    "openai": ("openai", ["openai"]),
    "anthropic": ("anthropic", ["anthropic"]),
    # genai-prices has one Google provider; it does not tell Gemini API and Vertex AI prices apart.
    "google": ("gcp", ["gcp.gemini", "gcp.vertex_ai", "gcp.gen_ai"]),
}
# Google's genai-prices entry also prices Claude partner models; of Google's APIs only Vertex AI serves them.
VERTEX_ONLY = ("claude-", ["gcp.vertex_ai", "gcp.gen_ai"])
DEFAULT_EFFECTIVE_FROM = dt.date(2023, 1, 1)  # for prices that have no start date in genai-prices
# genai-prices price key -> our field, in precedence order: an explicit 5-minute cache-write rate wins over
# the generic one (for Anthropic the generic one is the 5-minute rate; the 1-hour rate has its own key).
FIELDS = {
    "input_mtok": "input",
    "cache_read_mtok": "cache_read",
    "cache_write_mtok": "cache_write",
    "cache_write_5m_mtok": "cache_write",
    "output_mtok": "output",
    "output_reasoning_mtok": "reasoning",
}
OUT_FIELDS = ("input", "cache_read", "cache_write", "output", "reasoning")
# genai-prices literal clause -> regex template (for case-insensitive fullmatch; genai-prices lower-cases)
LITERAL_CLAUSES = {"equals": "{}", "starts_with": "{}.*", "ends_with": ".*{}", "contains": ".*{}.*"}
DEFAULT_OUT = Path(__file__).resolve().parents[1] / "src/otel_llmcost/pricing/data/default_prices.yaml"

skipped = Counter()  # what we dropped -> how many price versions / variants had it
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
    """One genai-prices match clause (matched on the lower-cased id) as a regex for re.fullmatch(re.I)."""
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
        return out + (f"(?:{last})" if top_level_bar(last) else last)
    raise ValueError(f"unknown clause {c!r}")


def convert_match(model: gp.ModelInfo, provider: gp.Provider, key: str) -> tuple[list[str], str | None]:
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
    for m in [model.id] + exact:  # keep an id only where genai-prices resolves it to this very model
        if m not in models and provider.find_model(m) is model:
            models.append(m)
        elif m not in models:
            notes.append(f"{key}: id {m!r} does not resolve to this model in genai-prices, not listed")
    return models, pattern


def versions(model: gp.ModelInfo, key: str) -> list[tuple[dt.date, gp.ModelPrice]]:
    """(effective_from, prices) per price version. genai-prices uses the last active conditional price and
    falls back to the first one, so the first applies from the start and later ones from their dates."""
    cps = (
        [gp.ConditionalPrice(prices=model.prices)]
        if isinstance(model.prices, gp.ModelPrice)
        else model.prices
    )
    out = [(DEFAULT_EFFECTIVE_FROM, cps[0].prices)]
    for cp in cps[1:]:
        if isinstance(cp.constraint, gp.StartDateConstraint):
            out.append((cp.constraint.start_date, cp.prices))
        else:  # e.g. DeepSeek's off-peak hours (TimeOfDateConstraint)
            notes.append(f"{key}: conditional price {cp.constraint!r} not representable, skipped")
    return out


def convert_prices(mp: gp.ModelPrice) -> tuple[dict[str, Decimal], list[str]]:
    """Our price fields, plus a note per tiered field that we flattened to its base price."""
    out: dict[str, Decimal] = {}
    tiers: list[str] = []
    for gp_key, field in FIELDS.items():
        val = getattr(mp, gp_key, None)
        if isinstance(val, gp.TieredPrices):
            steps = ", ".join(f"{dec(t.price)} above {t.start} input tokens" for t in val.tiers)
            tiers.append(f"{field} {steps}")
            val = val.base
        if val is not None:
            out[field] = val
    skipped.update(f"price field {k}" for k, v in vars(mp).items() if v is not None and k not in FIELDS)
    if out.get("reasoning") == out.get("output"):
        out.pop("reasoning", None)  # carried only where it differs from the output price
    return out, tiers


def build() -> list[tuple[str, list[str]]]:
    """(price_id, YAML lines) per entry, sorted by price_id."""
    entries = []
    for provider in (p for p in GP_PROVIDERS if p.id in PROVIDERS):
        prefix, names = PROVIDERS[provider.id]
        for model in provider.models:
            key = f"{provider.id}/{model.id}"
            for pv in model.price_variants or ():  # batch/flex/priority/fast: we price the standard rate
                skipped.update(f"price variant {k}={v}" for k, v in pv.when.items() if vars(pv.prices))
            models, pattern = convert_match(model, provider, key)
            if not models and not pattern:
                notes.append(f"{key}: no usable model id or pattern, skipped")
                continue
            vertex_only = provider.id == "google" and model.id.startswith(VERTEX_ONLY[0])
            served_by = VERTEX_ONLY[1] if vertex_only else names
            for start, mp in versions(model, key):
                prices, tiers = convert_prices(mp)
                comments = [f"tiered price not represented, base tier used: {t}" for t in tiers]
                if all(v is None for v in vars(mp).values()):  # genai-prices charges nothing
                    prices = {"input": Decimal(0), "output": Decimal(0)}
                    comments = ["no prices in genai-prices: free"]
                elif "input" not in prices:
                    notes.append(f"{key}@{start}: no per-token input price ({mp}), skipped")
                    continue
                elif "output" not in prices:
                    prices["output"] = Decimal(0)
                    comments.append("input-only model (no output price in genai-prices)")
                if model.deprecated:
                    comments.append("marked deprecated (still callable) in genai-prices")
                pid = f"{prefix}/{model.id}@{start.isoformat()}"
                lines = [f"  # {c}" for c in comments] + [f"  - id: {q(pid)}"]
                prov = served_by[0] if len(served_by) == 1 else f"[{', '.join(served_by)}]"
                lines.append(f"    provider: {prov}")
                lines.append(f"    models: [{', '.join(q(m) for m in models)}]")
                lines += [f"    pattern: {q(pattern)}"] if pattern else []
                lines.append(f"    effective_from: {start.isoformat()}")
                lines += [f'    {f}: "{dec(prices[f])}"' for f in OUT_FIELDS if f in prices]
                entries.append((pid, lines))
    return sorted(entries)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument(
        "--snapshot-date", help="YYYY-MM-DD; default: kept from --out if same version, else today"
    )
    args = ap.parse_args()
    gp_version = version("genai-prices")
    old = args.out.read_text() if args.out.exists() else ""
    snapshot = args.snapshot_date
    if snapshot is None and f"# genai-prices version: {gp_version}\n" in old:
        snapshot = re.search(r"^# snapshot date: (\S+)$", old, re.MULTILINE).group(1)
    snapshot = snapshot or dt.datetime.now(dt.timezone.utc).date().isoformat()
    entries = build()
    head = [
        "# GENERATED FILE - do not edit. Regenerate with: python scripts/build_price_book.py",
        f"# genai-prices version: {gp_version}",
        f"# snapshot date: {snapshot}",
        "# Prices: USD per 1M tokens, exact decimals. Prices without a start date in genai-prices get",
        f"# effective_from: {DEFAULT_EFFECTIVE_FROM}. Not represented: batch/flex/priority variants,",
        "# context-length tiers (base tier used; see the comment on each entry), 1-hour cache writes,",
        "# audio/image/video prices and per-request (web search) prices.",
        f'version: "genai-prices-{gp_version}+{snapshot}"',
        f'source: "genai-prices {gp_version} (PyPI), https://github.com/pydantic/genai-prices"',
        "currency: USD",
        "unit: per_million_tokens",
        "prices:",
    ]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(head + [ln for _, lines in entries for ln in lines]) + "\n")
    per_provider = Counter(pid.split("/")[0] for pid, _ in entries)
    print(f"wrote {args.out}: {len(entries)} entries {dict(sorted(per_provider.items()))}", file=sys.stderr)
    report = [f"  {k}: {n}" for k, n in sorted(skipped.items())] + [f"  {n}" for n in notes]
    head = "not represented (count = price versions / variants carrying it):"
    print("\n".join([head] + report), file=sys.stderr)


if __name__ == "__main__":
    main()
