"""The kinds a call is billed by, as providers' bills and FOCUS name them: the lines of a bill, derived from
kinds.py (each kind names its line and meter), from which reconciliation, `prices drift` and the FOCUS export
take their columns.

Each line has the llm_usage expressions of its quantity and its cost (over `llm_usage AS u`). The quantities
are disjoint and the costs add up to `cost_usd`: our convention counts a part inside its whole (cache reads and
writes, audio and image tokens inside `input_tokens`, reasoning inside `output_tokens`), while bills list
uncached input, cache reads, cache writes and output apart. So a line's quantity is the counts of its kinds
less their parts billed on other lines (reasoning is on the output line: it stays in `output_tokens`).
"""

from __future__ import annotations

from dataclasses import dataclass

from otel_llmcost.kinds import KINDS, Kind


@dataclass(frozen=True, slots=True)
class BilledKind:
    name: str
    meter: str  # FOCUS SkuMeter
    unit: str  # FOCUS ConsumedUnit
    per: int  # the units one price is for
    quantity: str  # SQL over llm_usage AS u
    cost: str  # SQL over llm_usage AS u (NULL for an unpriced call)

    @property
    def pricing_unit(self) -> str:  # FOCUS PricingUnit
        return f"{self.per} {self.unit}"


def _plural(unit: str) -> str:
    """'web search' -> 'Web Searches' (FOCUS units are plural and capitalised)."""
    return (unit + ("es" if unit.endswith(("s", "sh", "ch", "x")) else "s")).title()


def _quantity(line: list[Kind]) -> str:
    """The line's units: each kind not inside another kind of the line, less its parts billed elsewhere (a part
    is never taken as larger than its whole); a kind without a count is one per call that it charged."""
    counts = {kind.count for kind in line}
    terms = []
    for kind in line:
        if not kind.count:
            terms.append(f"if(u.{kind.cost} > 0, 1, 0)")
            continue
        if kind.part_of in counts:
            continue
        parts = [f" - least(u.{part.count}, u.{kind.count})" for part in KINDS
                 if part.part_of == kind.count and part.count not in counts]
        terms.append(f"greatest(toInt64(u.{kind.count}){''.join(parts)}, 0)" if parts else f"u.{kind.count}")
    return " + ".join(terms)


def _billed_kinds() -> tuple[BilledKind, ...]:
    lines: dict[str, list[Kind]] = {}
    for kind in KINDS:
        lines.setdefault(kind.billed, []).append(kind)
    made = []
    for name, line in lines.items():
        first = line[0]
        if any((kind.meter, kind.unit, kind.per) != (first.meter, first.unit, first.per) for kind in line):
            raise RuntimeError(f"bill line {name}: its kinds differ in meter, unit or units per price")
        if any(kind.cost in {other.cost for other in KINDS if other.billed != name} for kind in line):
            raise RuntimeError(f"bill line {name}: a cost column of its kinds is also on another line")
        made.append(BilledKind(name, first.meter, _plural(first.unit), first.per, _quantity(line),
                               " + ".join(f"u.{cost}" for cost in dict.fromkeys(kind.cost for kind in line))))
    return tuple(made)


BILLED_KINDS: tuple[BilledKind, ...] = _billed_kinds()
KIND_NAMES = tuple(kind.name for kind in BILLED_KINDS)
#: the kinds a provider bills in tokens
TOKEN_KINDS = tuple(kind.name for kind in BILLED_KINDS if kind.unit == "Tokens")
