"""Reconciliation: the provider's own figures (reports/exports) beside the stored calls, per UTC day,
provider, model and (given a map of the export's accounts to tenants) tenant.

Each group's gap is billed minus ours: positive when we show less than the bill (ours under). Totals split
into matched (the smaller of the two per group), ours over and ours under, so billed = matched + under and
ours = matched + over. Every gap above the tolerance is named with its likely reason, found by comparing the
two sides kind by kind (tokens first: no price takes part in a count):
  - no stored call, or fewer tokens than billed: calls missing from instrumentation;
  - unpriced calls of the model: their cost is missing from ours;
  - a line the export marks (batch, a service tier, a credit or discount): that discount;
  - the same tokens, every kind cheaper or dearer by one ratio: a discount or surcharge not in the book;
  - the same tokens, one kind's rate different: a price change (billed and booked rates per 1M tokens);
  - calls stored but not billed: a day missing from the export, or calls of another account.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

from otel_llmcost.reports.queries import sql_time
from otel_llmcost.reports.billed_kinds import BILLED_KINDS, KIND_NAMES
from otel_llmcost.reports.exports import DISCOUNT, OTHER, BilledLine, model_key
from otel_llmcost.reports.finops_sql import RECONCILIATION_COLUMNS, stored_calls

#: providers whose calls one bill covers (Vertex AI's spans may name the older gcp.gen_ai)
PROVIDER_ALIASES = {"gcp.gen_ai": "gcp.vertex_ai"}
_MILLION = Decimal(1_000_000)
_TOKEN_SLACK = Decimal("0.005")  # token counts within 0.5% agree (a call at midnight, a late retry)
_RATIO_SLACK = Decimal("0.005")


@dataclass
class Side:
    tokens: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    cost: dict[str, Decimal] = field(default_factory=lambda: defaultdict(Decimal))
    names: set[str] = field(default_factory=set)
    discounts: set[str] = field(default_factory=set)
    calls: int = 0
    unpriced_calls: int = 0
    lines: int = 0

    @property
    def total(self) -> Decimal:
        return sum(self.cost.values(), Decimal(0))

    def usage_tokens(self) -> int:
        return sum(count for kind, count in self.tokens.items() if kind in KIND_NAMES)


@dataclass(frozen=True)
class Gap:
    day: date
    provider: str
    model_key: str
    model: str  # as the export names it, else as the calls do
    tenant: str
    billed_usd: Decimal
    ours_usd: Decimal
    billed_tokens: int
    our_tokens: int
    calls: int
    unpriced_calls: int
    reason: str

    @property
    def gap_usd(self) -> Decimal:
        return self.billed_usd - self.ours_usd


@dataclass(frozen=True)
class Reconciliation:
    sources: tuple[str, ...]
    groups: tuple[Gap, ...]  # every group, matched ones included
    tolerance: Decimal

    @property
    def billed_usd(self) -> Decimal:
        return sum((g.billed_usd for g in self.groups), Decimal(0))

    @property
    def ours_usd(self) -> Decimal:
        return sum((g.ours_usd for g in self.groups), Decimal(0))

    @property
    def matched_usd(self) -> Decimal:
        return sum((min(g.billed_usd, g.ours_usd) for g in self.groups), Decimal(0))

    @property
    def over_usd(self) -> Decimal:
        return sum((-g.gap_usd for g in self.groups if g.gap_usd < 0), Decimal(0))

    @property
    def under_usd(self) -> Decimal:
        return sum((g.gap_usd for g in self.groups if g.gap_usd > 0), Decimal(0))

    @property
    def matched_pct(self) -> Decimal | None:
        return (self.matched_usd / self.billed_usd * 100).quantize(Decimal("0.01")) if self.billed_usd else None

    def gaps(self) -> list[Gap]:
        """The groups off by more than the tolerance, largest first."""
        found = [g for g in self.groups if abs(g.gap_usd) > self.tolerance]
        return sorted(found, key=lambda g: (-abs(g.gap_usd), g.day, g.provider, g.model))

    @property
    def unexplained_usd(self) -> Decimal:
        return sum((g.gap_usd for g in self.gaps() if g.reason == UNEXPLAINED), Decimal(0))


UNEXPLAINED = "unexplained"


def reconcile(store, lines: list[BilledLine], accounts: dict[str, str] | None = None,
              tolerance: Decimal = Decimal("0.01")) -> Reconciliation:
    """Match the export's lines with the stored calls of the same days and providers. `accounts` maps the
    export's account ids (project, API key, workspace, AWS principal) to tenants: given, groups are per
    tenant too, and lines of an unmapped account stay apart under the account's own id."""
    if not lines:
        return Reconciliation((), (), tolerance)
    accounts = accounts or {}
    billed: dict[tuple, Side] = defaultdict(Side)
    billed_days: set[tuple[date, str]] = set()
    counted: dict[tuple, dict[str, dict[str, int]]] = defaultdict(lambda: defaultdict(lambda: defaultdict(int)))
    for line in lines:
        key = (line.day, line.provider, model_key(line.model), _tenant(line.account, accounts))
        side = billed[key]
        side.lines += 1
        if line.model:
            side.names.add(line.model)
        if line.tokens is not None:
            counted[key][line.source][line.kind] += line.tokens
        if line.cost_usd is not None:
            side.cost[line.kind] += line.cost_usd
        if line.discount:
            side.discounts.add(line.discount)
        if line.kind != DISCOUNT:
            billed_days.add((line.day, line.provider))
    for key, by_source in counted.items():  # a usage report and a cost report both count tokens: once
        for source in sorted(by_source, key=lambda name: (not name.endswith("-usage"), name)):
            for kind, tokens in by_source[source].items():
                billed[key].tokens.setdefault(kind, tokens)
    ours = _stored(store, lines, bool(accounts))
    groups = []
    for key in sorted(billed.keys() | ours.keys(), key=lambda k: tuple(map(str, k))):
        day, provider, key_of_model, tenant = key
        theirs, mine = billed.get(key, Side()), ours.get(key, Side())
        _value_usage(theirs, mine)
        groups.append(Gap(day, provider, key_of_model, min(theirs.names or mine.names or {""}), tenant,
                          theirs.total, mine.total, theirs.usage_tokens(), mine.usage_tokens(), mine.calls, mine.unpriced_calls,
                          _reason(theirs, mine, (day, provider) in billed_days)))
    return Reconciliation(tuple(sorted({line.source for line in lines})), tuple(groups), tolerance)


def _value_usage(theirs: Side, mine: Side) -> None:
    """A usage report bills no money: its tokens of a kind are valued at our own rate for that kind and group,
    so that only a difference in tokens makes a gap."""
    for kind, tokens in list(theirs.tokens.items()):
        if kind not in theirs.cost and kind in KIND_NAMES:
            rate = mine.cost[kind] / mine.tokens[kind] if mine.tokens.get(kind) else Decimal(0)
            theirs.cost[kind] = rate * tokens


def _tenant(account: str, accounts: dict[str, str]) -> str:
    return accounts.get(account, account) if accounts else ""


def _stored(store, lines: list[BilledLine], by_tenant: bool) -> dict[tuple, Side]:
    """Our calls of each provider over the days its export covers (first to last day, gaps included)."""
    covered: dict[str, tuple[date, date]] = {}
    for line in lines:
        first, last = covered.get(line.provider, (line.day, line.day))
        covered[line.provider] = (min(first, line.day), max(last, line.day))
    providers = sorted(covered) + [alias for alias, target in PROVIDER_ALIASES.items() if target in covered]
    since, until = min(first for first, _ in covered.values()), max(last for _, last in covered.values())
    rows = store.query(stored_calls(store.database), {
        "since": sql_time(_midnight(since)), "until": sql_time(_midnight(until + timedelta(days=1))),
        "providers": providers})
    found: dict[tuple, Side] = defaultdict(Side)
    for row in rows:
        day, provider = date.fromisoformat(row["day"]), PROVIDER_ALIASES.get(row["provider"], row["provider"])
        first, last = covered[provider]
        if not first <= day <= last:
            continue
        side = found[(day, provider, model_key(row["model"]), row["tenant"] if by_tenant else "")]
        side.names.add(row["model"])
        side.calls += int(row["calls"])
        side.unpriced_calls += int(row["unpriced_calls"])
        for kind in BILLED_KINDS:
            side.tokens[kind.name] += int(row[f"{kind.name}_quantity"])
            side.cost[kind.name] += Decimal(row[f"{kind.name}_usd"])
    return found


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=timezone.utc)


def _reason(theirs: Side, mine: Side, day_billed: bool) -> str:
    if not theirs.lines:
        if not day_billed:
            return "day missing from the export: no billed line of this provider on this day (a late or partial export)"
        return "not billed: calls of another organisation or account, or one call counted twice (agent and LLM spans)"
    if not mine.calls:
        if set(theirs.cost) <= {DISCOUNT, OTHER} and DISCOUNT in theirs.cost:
            return f"discount or credit in the export ({', '.join(sorted(theirs.discounts)) or 'a negative line'})"
        return "calls missing from instrumentation: no call of this model stored on this day"
    notes = []
    if mine.unpriced_calls:
        notes.append(f"{mine.unpriced_calls} unpriced calls: the price book has no price for this model "
                     "(see `prices coverage`)")
    missing = [(kind, theirs.tokens[kind] - mine.tokens[kind]) for kind in KIND_NAMES
               if kind in theirs.tokens and _differ(theirs.tokens[kind], mine.tokens[kind])]
    if missing:
        words = ", ".join(f"{abs(n):,} {'more' if n > 0 else 'fewer'} {kind} tokens" for kind, n in missing)
        cause = ("calls missing from instrumentation" if all(n > 0 for _, n in missing)
                 else "tokens counted differently (cache or reasoning tokens counted twice, or not at all)")
        notes.append(f"{cause}: the provider billed {words}")
    if DISCOUNT in theirs.cost:
        notes.append(f"discount or credit in the export ({', '.join(sorted(theirs.discounts))}): "
                     f"{format(theirs.cost[DISCOUNT], 'f')} USD")
    elif not missing and not mine.unpriced_calls:
        notes.extend(_price_reasons(theirs, mine))
    return "; ".join(notes) or UNEXPLAINED


def _price_reasons(theirs: Side, mine: Side) -> list[str]:
    """Same tokens, different cost: one ratio on every kind (a discount or surcharge), else the kinds whose
    billed rate differs from the book's (a price change)."""
    ratios = {kind: theirs.cost[kind] / mine.cost[kind] for kind in KIND_NAMES
              if kind in theirs.cost and mine.cost.get(kind)}
    if not ratios:
        return []
    low, high = min(ratios.values()), max(ratios.values())
    if len(ratios) > 1 and high - low <= _RATIO_SLACK and abs(high - 1) > _RATIO_SLACK:
        share = ((1 - high) * 100).quantize(Decimal("0.1"))
        tiers = f" ({', '.join(sorted(theirs.discounts))})" if theirs.discounts else ""
        if high < 1:
            return [f"batch or tier discount{tiers}: {share}% off every kind, not in the price book"]
        return [f"surcharge of {-share}% on every kind{tiers} (regional or data-zone uplift, a long-context tier)"]
    notes = []
    for kind, ratio in ratios.items():
        if abs(ratio - 1) > _RATIO_SLACK and mine.tokens.get(kind):
            billed_rate = theirs.cost[kind] / mine.tokens[kind] * _MILLION
            book_rate = mine.cost[kind] / mine.tokens[kind] * _MILLION
            tiers = f", {', '.join(sorted(theirs.discounts))}" if theirs.discounts else ""
            notes.append(f"price change: {kind} billed at {_rate(billed_rate)} USD per 1M tokens, the book "
                         f"has {_rate(book_rate)}{tiers}")
    return notes


def _differ(billed: int, ours: int) -> bool:
    return abs(billed - ours) > _TOKEN_SLACK * max(billed, ours)


def _rate(value: Decimal) -> str:
    return format(value.quantize(Decimal("0.0001")).normalize(), "f")


def save(store, result: Reconciliation, run_id: str, at: datetime) -> None:
    """Every group of the run into `reconciliations` (a later run's row for the same key replaces it)."""
    source = "+".join(result.sources)
    rows = [(run_id, at, source, g.day, g.provider, g.model_key, g.model, g.tenant, g.billed_usd, g.ours_usd, g.gap_usd,
             g.billed_tokens, g.our_tokens, g.calls, g.unpriced_calls, status(g, result.tolerance), g.reason)
            for g in result.groups]
    if rows:
        store.insert_columns("reconciliations", RECONCILIATION_COLUMNS, [list(column) for column in zip(*rows)])


def status(gap: Gap, tolerance: Decimal) -> str:
    if abs(gap.gap_usd) <= tolerance:
        return "matched"
    return "under" if gap.gap_usd > 0 else "over"
