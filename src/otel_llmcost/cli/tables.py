"""Tables people read in a terminal: at most 100 characters wide unless asked, money with its currency and a
fixed number of decimals, numbers right-aligned. JSON output keeps every column and exact amounts."""

from __future__ import annotations

import re
import sys
from decimal import Decimal, InvalidOperation

WIDTH = 100
_GAP = "  "
_NUMERIC = re.compile(r"[-+]?\$?[-+]?[\d,]*\.?\d*%?")  # what is right-aligned: numbers, money, percents, ""
#: table headers shorter than the JSON keys they show (the keys stay as they are in --json)
SHORT = {
    "input_tokens": "input", "cache_read_tokens": "cache_rd", "cache_write_tokens": "cache_wr",
    "output_tokens": "output", "reasoning_tokens": "reasoning", "unpriced_calls": "unpriced",
    "avg_latency_ms": "latency_ms", "failures": "failed", "previous_cost_usd": "before_usd",
}


def money(value, decimals: int = 4, signed: bool = False) -> str:
    """'$1.2346', '-$0.0100' ('+$' when signed); '' for no amount. Amounts come as Decimal or decimal text."""
    if value is None or value == "":
        return ""
    try:
        amount = Decimal(value)
    except InvalidOperation:
        return str(value)
    text = f"${abs(amount):,.{decimals}f}"
    if amount < 0 and text.strip("$0.,"):
        return "-" + text
    return ("+" + text) if signed and text.strip("$0.,") else text


def print_table(rows: list[dict], first_title: str, empty: str, wide: bool | None = None, decimals: int = 4,
                signed: tuple[str, ...] = ()) -> None:
    """Rows as aligned columns under their keys (the first titled `first_title`; numbers and money, keys ending
    in _usd, right-aligned, text left-aligned). Columns beyond WIDTH characters are left out, and named on
    stderr, unless `wide`."""
    if not rows:
        print(empty, file=sys.stderr)
        return
    keys = list(rows[0])
    headers = [first_title] + [SHORT.get(key, key) for key in keys[1:]]
    cells = [[_cell(key, row.get(key), decimals, key in signed) for key in keys] for row in rows]
    widths = [max(len(header), *(len(row[i]) for row in cells)) for i, header in enumerate(headers)]
    shown, used = 0, 0
    for width in widths:
        if not wide and shown and used + len(_GAP) + width > WIDTH:
            break
        used, shown = used + (len(_GAP) if shown else 0) + width, shown + 1
    right = [index > 0 and all(_NUMERIC.fullmatch(row[index]) for row in cells) for index in range(len(keys))]
    for line in [headers] + cells:
        print(_GAP.join(text.rjust(width) if right[index] else text.ljust(width)
                        for index, (text, width) in enumerate(zip(line[:shown], widths[:shown], strict=True))).rstrip())
    if shown < len(keys):
        flag = "--wide shows them, " if wide is not None else ""  # None: the command has no --wide
        print(f"({len(keys) - shown} more columns: {', '.join(headers[shown:])}; {flag}--json has all)",
              file=sys.stderr)


def _cell(key: str, value, decimals: int, signed: bool) -> str:
    if key.endswith("_usd"):
        return money(value, decimals, signed)
    return "" if value is None else str(value)
