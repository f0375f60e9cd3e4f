"""genai-prices match rules -> our price entries' `models` (exact ids) and `pattern` (one regex, full match).

Part of scripts/build_price_book.py. genai-prices matches a model name with clauses (equals, starts_with,
regex, or/and...) evaluated in its provider's model order; we write them as exact names plus one regex.
"""

from __future__ import annotations

import re
from collections import Counter

from genai_prices import types as gp

# What the genai-prices pass could not carry over, for build_price_book.py's report (header and stderr).
skipped = Counter()  # what we dropped -> how many emitted entries / variants had it
represented = Counter()  # EXTENDED fields -> how many entries carry them
notes: list[str] = []  # per-model problems, printed to stderr
LITERAL_CLAUSES = {"equals": "{}", "starts_with": "{}.*", "ends_with": ".*{}", "contains": ".*{}.*"}
DATE_SUFFIXES = ("-20250101", "-2025-01-01")  # appended to literal names to probe patterns for overlaps


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

    def resolve(name):
        return next((m for m, *_ in scope if m.is_match(name)), None)

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
    for i, ((models, pattern), (model, sub, _)) in enumerate(zip(rules, scope, strict=True)):
        if not models and not pattern or not models and not any(resolve(w) is model for w in own[i]):
            # e.g. OpenAI's o1 under Azure: Azure's own o1 takes all its names
            notes.append(f"{key}/{sub}{model.id}: no id or pattern of its own, skipped")
            out.append(None)
            continue
        heads = "".join(f"(?!{group(rules[j][1])}\\Z)" for j in sorted(overlaps[i]))
        out.append((models, heads + group(pattern) if heads else pattern))
    return out
