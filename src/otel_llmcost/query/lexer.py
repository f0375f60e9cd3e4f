"""Tokens of a statement in ClickHouse's canonical form (formatQuerySingleLine), to read two things the
AST dump leaves out: the SETTINGS clauses (EXPLAIN AST prints only `Set`) and a trailing FORMAT."""

from __future__ import annotations

import re

_TOKEN = re.compile(
    r"""\s+|(?P<tok>'(?:[^'\\]|\\.|'')*'|`(?:[^`\\]|\\.|``)*`|"(?:[^"\\]|\\.|"")*"|[A-Za-z_][A-Za-z0-9_]*"""
    r"""|\d[\d.eE+-]*|[{}\[\]()]|.)""",
    re.S,
)
_OPEN, _CLOSE = "([{", ")]}"


def tokens(text: str) -> list[str]:
    return [m.group("tok") for m in _TOKEN.finditer(text) if m.group("tok")]


def is_word(token: str, word: str) -> bool:
    return token.upper() == word


def settings_clauses(toks: list[str]) -> list[list[tuple[str, str]]]:
    """Every `SETTINGS name = value, ...` clause, as (name, value text) pairs."""
    clauses = []
    i = 0
    while i < len(toks):
        if is_word(toks[i], "SETTINGS") and _pair_starts(toks, i + 1):
            pairs: list[tuple[str, str]] = []
            i += 1
            while _pair_starts(toks, i):
                name = toks[i].strip("`\"")
                end = _value_end(toks, i + 2)
                pairs.append((name, " ".join(toks[i + 2:end])))
                i = end + 1 if end < len(toks) and toks[end] == "," and _pair_starts(toks, end + 1) else end
            clauses.append(pairs)
        else:
            i += 1
    return clauses


def cte_names(toks: list[str]) -> frozenset[str]:
    """Names a statement defines as `name AS (...)`: its WITH clauses (a subquery alias reads `) AS name`)."""
    return frozenset(toks[i].strip("`") for i in range(len(toks) - 2)
                     if toks[i + 1].upper() == "AS" and toks[i + 2] == "(" and re.match(r"^[A-Za-z_`]", toks[i]))


def trailing_format(toks: list[str]) -> str | None:
    """The name after a final `FORMAT`, if the statement ends with one."""
    if len(toks) >= 2 and is_word(toks[-2], "FORMAT") and re.match(r"^[A-Za-z_`]", toks[-1]):
        return toks[-1].strip("`")
    return None


def _pair_starts(toks: list[str], i: int) -> bool:
    return i + 1 < len(toks) and re.match(r"^[A-Za-z_`\"]", toks[i]) is not None and toks[i + 1] == "="


def _value_end(toks: list[str], i: int) -> int:
    """Index just past one value: a literal (maybe signed) or a bracketed group such as a map."""
    if i < len(toks) and toks[i] == "-":
        i += 1
    if i < len(toks) and toks[i] in _OPEN:
        depth = 0
        while i < len(toks):
            depth += toks[i] in _OPEN
            depth -= toks[i] in _CLOSE
            i += 1
            if depth == 0:
                break
        return i
    return i + 1
