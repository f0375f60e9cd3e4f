"""Why a cost changed: the change between a baseline range and a range, split into causes that add up to it
exactly.

The scope's calls fall into segments: (feature, provider, requested model). A segment with calls in only one
of the two ranges is a new or a vanished one: its whole cost is that cause. The cost of every other segment
is written as a product of factors,

    cost_s = R * k * phi_f * g_s * r_s * sum_kind(q_kind(prompt, cache, completion) * rate_kind)

R requests (with a call in these segments), k first attempts per request, phi_f the share of first attempts
in feature f, g_s the share of f's first attempts on this provider and model, r_s calls per first attempt
(retries), and per call each count of kinds.py: a count that is part of another as its share of that one
(cache reads of the input, reasoning of the output), any other per call (input and output tokens, web and
file searches, images, seconds of audio). Each cost column is charged at its rate (its cost over its units in
that range: each kind's own units, its count less its parts', as pricing charges them); the per-call fee
also holds what no count explains. A kind's count is the prompt's, the cache's or the completion's (its
`why` in kinds.py, else its whole's): the cause its change per call is put under.

Sequential substitution (the chain method of variance analysis): starting from the baseline, the factors take
their current values one at a time in the order of CAUSES, and each cause is the difference between the
costs before and after its step. The first cost is the baseline's stored total and the last the current one,
so the causes add up to the change exactly by construction (the intermediate costs are exact fractions,
rounded to the store's 12 decimals per segment). Prices come last: the price cause is the current cost less
the current usage at the baseline's rates. Like any chain, the split of an interaction between two factors
depends on the order; volume and mix first, then usage per call, then price is the usual one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from itertools import pairwise
from typing import Any, Protocol, TypeVar

from otel_llmcost.kinds import COST_COLUMNS as KIND_COSTS
from otel_llmcost.kinds import COUNTED, KINDS, Kind
from otel_llmcost.kinds import COUNTS as USAGE_KINDS
from otel_llmcost.reports.why_sql import COSTS, COUNTS

#: (cause, what it means), in the order of the chain; "new" and "vanished" are segments outside it
CAUSES = (
    ("requests", "volume: requests"),
    ("calls_per_request", "volume: calls per request"),
    ("feature_mix", "feature mix"),
    ("model_mix", "model mix (within a feature)"),
    ("retries", "retries and failed attempts"),
    ("prompt", "prompt length"),
    ("cache", "cache hit rate"),
    ("completion", "completion length"),
    ("price", "price changes"),
    ("new", "new features/models"),
    ("vanished", "vanished features/models"),
)
CHAIN = tuple(cause for cause, _ in CAUSES[:9])  # the price step last
_STEP = Decimal("1e-12")  # the store's Decimal(38, 12)

SegmentKey = tuple[str, str, str]  # feature, provider, requested model


@dataclass(frozen=True)
class Segment:
    """One segment's sums over one range: COUNTS and USAGE_KINDS as ints, COSTS as Decimal."""

    key: SegmentKey
    counts: dict[str, int]
    costs: dict[str, Decimal]

    @classmethod
    def of_row(cls, row: dict) -> Segment:
        return cls((row["feature"], row["provider"], row["model"]),
                   {name: int(row[name]) for name in COUNTS + USAGE_KINDS},
                   {name: Decimal(row[name]) for name in COSTS})

    @property
    def cost(self) -> Decimal:
        return self.costs["cost_usd"]

    @property
    def first_attempts(self) -> int:
        """Calls that are not retries (all calls, in a segment of retries only: its factor r is then 1)."""
        return self.counts["calls"] - self.counts["retry_calls"] or self.counts["calls"]


@dataclass(frozen=True)
class Range:
    """What `decompose` needs of one range: its segments and the requests with a call in the common ones."""

    segments: dict[SegmentKey, Segment]
    requests: int  # distinct (tenant, request) with a call in a segment both ranges have


@dataclass
class Cause:
    cause: str
    label: str
    change_usd: Decimal = Decimal(0)
    by_segment: dict[SegmentKey, Decimal] = field(default_factory=dict)

    def top(self, count: int = 3) -> list[tuple[SegmentKey, Decimal]]:
        """The segments that contributed most to this cause, largest first (their sign as the cause's)."""
        same_sign = [(key, usd) for key, usd in self.by_segment.items() if usd and (usd > 0) == (self.change_usd > 0)]
        return sorted(same_sign, key=lambda item: (-abs(item[1]), item[0]))[:count]


def common_segments(baseline: dict[SegmentKey, Segment], current: dict[SegmentKey, Segment]) -> list[SegmentKey]:
    return sorted(key for key in baseline.keys() & current.keys()
                  if baseline[key].counts["calls"] and current[key].counts["calls"])


def decompose(baseline: Range, current: Range) -> list[Cause]:
    """The causes, in CAUSES order; their change_usd add up to the change of the total cost exactly."""
    causes = {cause: Cause(cause, label) for cause, label in CAUSES}
    common = common_segments(baseline.segments, current.segments)
    for key in current.segments.keys() - set(common):
        causes["new"].by_segment[key] = current.segments[key].cost
    for key in baseline.segments.keys() - set(common):
        causes["vanished"].by_segment[key] = -baseline.segments[key].cost
    if common:
        states = [_factors(period, common) for period in (baseline, current)]
        for key in common:
            before, after = states[0][key], states[1][key]
            rates = _rates(before.rates, after.rates)
            costs = [baseline.segments[key].cost]
            state = before
            for step in CHAIN[:-1]:  # each step takes one factor's current value
                state = state.with_factor(step, after)
                costs.append(_usd(state.cost(rates)))
            costs.append(current.segments[key].cost)  # the price step: the stored current cost
            for step, (start, end) in zip(CHAIN, pairwise(costs), strict=True):
                causes[step].by_segment[key] = end - start
    for cause in causes.values():
        cause.change_usd = sum(cause.by_segment.values(), Decimal(0))
    return list(causes.values())


def total_cost(segments: dict[SegmentKey, Segment]) -> Decimal:
    return sum((segment.cost for segment in segments.values()), Decimal(0))


_USAGE_CAUSES = ("prompt", "cache", "completion")


def _cause(kind: Kind) -> str:
    """The usage cause of a change in the kind's count per call: its own `why`, else its whole's, else the
    completion's (a unit of its own beside the tokens)."""
    whole = next((other for other in COUNTED if other.count == kind.part_of), None)
    cause = kind.why or (_cause(whole) if whole is not None else "completion")
    if cause not in _USAGE_CAUSES:
        raise RuntimeError(f"kind {kind.rate}: why={cause!r} is none of {_USAGE_CAUSES}")
    return cause


#: which factors each cause's step replaces (a count's factor is named as the count)
STEP_FACTORS = {
    "requests": ("requests",), "calls_per_request": ("calls_per_request",), "feature_mix": ("feature_share",),
    "model_mix": ("model_share",), "retries": ("calls_per_first",),
    **{cause: tuple(kind.count for kind in COUNTED if _cause(kind) == cause) for cause in _USAGE_CAUSES},
}
#: the cost column charged once per call (its kind has no count): it also holds what no count explains
FEE_COLUMN = next(kind.cost for kind in KINDS if not kind.count)


class Arithmetic(Protocol):
    def __add__(self, other: Any, /) -> Any: ...
    def __sub__(self, other: Any, /) -> Any: ...
    def __mul__(self, other: Any, /) -> Any: ...


T = TypeVar("T", bound=Arithmetic)


def units_per_call(factor: Callable[[str], T], one: T, zero: T) -> dict[str, T]:
    """Units per call of each cost column from the count factors (`factor(count)`: a whole's count per call, a
    part's share of its whole): each kind's own units (its count less its parts') on its column, `one` per call
    for a kind without a count. Over Fractions here, over SQL expressions in the dashboard's panel."""
    counts: dict[str, T] = {}
    for kind in COUNTED:  # a whole comes before its parts
        value = factor(kind.count)
        counts[kind.count] = value * counts[kind.part_of] if kind.part_of else value
    own = dict(counts)
    for kind in COUNTED:
        if kind.part_of:
            own[kind.part_of] = own[kind.part_of] - counts[kind.count]
    units = dict.fromkeys(KIND_COSTS, zero)
    for kind in KINDS:
        units[kind.cost] = units[kind.cost] + (own[kind.count] if kind.count else one)
    return units


@dataclass(frozen=True)
class _Factors:
    values: dict[str, Fraction]
    rates: dict[str, Fraction | None]  # None: no such quantity in this range (its rate is unknown)

    def with_factor(self, step: str, other: _Factors) -> _Factors:
        return _Factors(self.values | {name: other.values[name] for name in STEP_FACTORS[step]}, self.rates)

    def per_call(self) -> dict[str, Fraction]:
        return units_per_call(self.values.__getitem__, Fraction(1), Fraction(0))

    def calls(self) -> Fraction:
        v = self.values
        return v["requests"] * v["calls_per_request"] * v["feature_share"] * v["model_share"] * v["calls_per_first"]

    def cost(self, rates: dict[str, Fraction]) -> Fraction:
        return self.calls() * sum((quantity * rates[kind] for kind, quantity in self.per_call().items()), Fraction(0))


def _factors(period: Range, common: list[SegmentKey]) -> dict[SegmentKey, _Factors]:
    segments = [period.segments[key] for key in common]
    first = sum(segment.first_attempts for segment in segments)
    by_feature: dict[str, int] = {}
    for segment in segments:
        by_feature[segment.key[0]] = by_feature.get(segment.key[0], 0) + segment.first_attempts
    requests = period.requests or first  # no request counted (cannot happen with calls): k = 1
    factors = {}
    for segment in segments:
        c = segment.counts
        values = {
            "requests": Fraction(requests), "calls_per_request": Fraction(first, requests),
            "feature_share": Fraction(by_feature[segment.key[0]], first),
            "model_share": Fraction(segment.first_attempts, by_feature[segment.key[0]]),
            "calls_per_first": Fraction(c["calls"], segment.first_attempts),
            **{kind.count: _share(c[kind.count], c[kind.part_of]) if kind.part_of
               else Fraction(c[kind.count], c["calls"]) for kind in COUNTED},
        }
        state = _Factors(values, {})
        quantities = {column: c["calls"] * per_call for column, per_call in state.per_call().items()}
        # each column's rate is its cost over its units, as the factors state them: so the factors times the
        # rates give the stored cost exactly. A cost without units (a kind the factors cannot see, as in rows
        # with more cache than input) is charged per call.
        rates: dict[str, Fraction | None] = {}
        per_call_extra = Fraction(0)
        for column in KIND_COSTS:
            if column == FEE_COLUMN:
                continue
            cost = Fraction(segment.costs[column])
            if quantities[column] > 0:
                rates[column] = cost / quantities[column]
            else:
                rates[column], per_call_extra = None, per_call_extra + cost
        parts = sum((Fraction(segment.costs[column]) for column in KIND_COSTS), Fraction(0))
        # the fee absorbs what the parts do not hold of the total (nothing, for rows priced by this release)
        fee = Fraction(segment.costs[FEE_COLUMN]) + Fraction(segment.cost) - parts + per_call_extra
        rates[FEE_COLUMN] = fee / quantities[FEE_COLUMN]
        factors[segment.key] = _Factors(values, rates)
    return factors


def _rates(before: dict[str, Fraction | None], after: dict[str, Fraction | None]) -> dict[str, Fraction]:
    """The baseline's rates; a kind the baseline had none of takes the current rate (its price did not change:
    it was not paid)."""
    return {column: _first_known(before[column], after[column]) for column in KIND_COSTS}


def _first_known(*rates: Fraction | None) -> Fraction:
    return next((rate for rate in rates if rate is not None), Fraction(0))


def _share(part: int, whole: int) -> Fraction:
    return Fraction(part, whole) if whole else Fraction(0)


def _usd(amount: Fraction) -> Decimal:
    """A fraction of a dollar at the store's 12 decimals (half to even)."""
    return Decimal(round(amount * 10**12)).scaleb(-12).quantize(_STEP)
