"""The third, smallest source of the bundled price book: published provider rules and prices that genai-prices
and LiteLLM lack, each cited in price_rules.yaml. Used by build_price_book.py after its genai-prices and LiteLLM
passes; works on its entry specs (dicts: comments, served, models, pattern, start, tier, prices).

A rule that derives prices (a service tier as a share of the standard price, a long-context tier as multiples
of the base rates) is first compared with every matching model the databases already price that way; one
disagreement stops the build, so the rule's reach is proven on data we did not write.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from pathlib import Path

import yaml

RULES = Path(__file__).with_name("price_rules.yaml")
TOKEN_FIELDS = ("input", "cache_read", "cache_write", "cache_write_1h", "output", "reasoning", "audio_input",
                "audio_output", "image_input", "image_output")


class RuleProblem(Exception):
    """A rule contradicts the databases, or is no longer needed."""


def load(path: Path = RULES) -> dict:
    return yaml.safe_load(path.read_text())


REPORTED = {"added": "entries added", "confirmed": "derived prices equal to a database's",
            "corrected": "entries corrected", "tiered": "entries given a long-context tier",
            "dated": "entries given the earlier price they replaced",
            "once": "entries charging a unit price once per call"}


def apply(rules: dict, by_key: dict, litellm_by_key: dict, providers: dict, default_from: dt.date):
    """-> (new (price_id, spec) entries, report lines (first word: a REPORTED key), problems). Edits the specs in
    by_key in place for corrections and context tiers (they get a "rule:" comment)."""
    state = _State(by_key, litellm_by_key)
    for rule in rules.get("corrections", []):
        state.correct(rule)
    for rule in rules.get("earlier_prices", []):
        state.earlier(rule)
    for rule in rules.get("price_periods", []):
        state.period(rule)
    for rule in rules.get("service_tiers", []):
        state.service_tier(rule)
    for rule in rules.get("context_tiers", []):
        state.context_tier(rule)
    for rule in rules.get("once_per_call", []):  # last: the entries the rules above made get it too
        state.once_per_call(rule)
    for rule in rules.get("models", []):
        prefix, served, _ = providers[rule["provider"]]
        start = rule.get("effective_from", default_from)
        prices = _decimals(rule["prices"])
        pid = f"{prefix}/{rule['models'][0]}@{_label(start)}~rule"
        state.add(pid, _spec([f"rule: not in genai-prices or LiteLLM ({rule['source']})"], served, rule["models"],
                             None, start, "", prices), f"model {pid}")
    return state.new, state.report, state.problems


class _State:
    def __init__(self, by_key: dict, litellm_by_key: dict):
        self.by_key, self.litellm_by_key = by_key, litellm_by_key
        self.new: list[tuple[str, dict]] = []
        self.report: list[str] = []
        self.problems: list[str] = []

    def keys(self, rule: dict) -> list[str]:
        found = [k for k in sorted(self.by_key) if re.fullmatch(rule["keys"], k)]
        if not found:
            self.problems.append(f"rule {rule['keys']!r} matches no model key")
        return found

    def add(self, pid: str, spec: dict, what: str, key: str | None = None) -> None:
        self.new.append((pid, spec))
        if key:
            self.by_key[key].append((pid, spec))
        self.report.append(f"added {what}")

    def correct(self, rule: dict) -> None:
        prices = _decimals(rule["prices"])
        for key in self.keys(rule):
            for pid, spec in self.by_key[key]:
                old = {f: spec["prices"].get(f) for f in prices}
                if old == prices:
                    self.problems.append(f"{pid}: the database now has the corrected price, drop the rule")
                spec["prices"].update(prices)
                was = ", ".join(f"{f} {v}" for f, v in old.items())
                spec["comments"] = spec["comments"] + [f"rule: corrected (genai-prices had {was}; {rule['source']})"]
                self.report.append(f"corrected {pid}")

    def period(self, rule: dict) -> None:
        start, prices = rule["effective_from"], _decimals(rule["prices"])
        for key in self.keys(rule):
            pid, spec = [(p, s) for p, s in self.by_key[key] if not s["tier"]][-1]
            if _moment(spec["start"]) >= _moment(start):
                self.problems.append(f"{pid}: the database has a price from {spec['start']}, past the rule's {start}")
                continue
            new_pid = f"{pid.rsplit('@', 1)[0]}@{_label(start)}~rule"
            comments = [f"rule: price period from {_label(start)} ({rule['source']})"]
            self.add(new_pid, _spec(comments, spec["served"], spec["models"], spec["pattern"], start, "", prices),
                     f"price period {new_pid}", key)

    def earlier(self, rule: dict) -> None:
        """The databases date a model's current price from the start, but the provider charged another before
        `changed_by`. The day of the change lies after `known_until` (the last day the earlier price is seen):
        calls in between are charged the earlier price and marked uncertain."""
        known, changed = rule["known_until"], rule["changed_by"]
        window = known + dt.timedelta(days=1)
        doubt = (f"the price changed between {known} and {changed}, on a day not known: charged the earlier "
                 f"price ({rule['source']})")
        for key, overrides in rule["models"].items():
            standard = [(p, s) for p, s in self.by_key.get(key, []) if not s["tier"]]
            if len(standard) != 1 or _moment(standard[0][1]["start"]) >= _moment(known):
                self.problems.append(f"{key}: not one undated standard price in the database (drop the rule?)")
                continue
            pid, spec = standard[0]
            current, earlier = spec["prices"], _overridden(spec["prices"], overrides)
            if earlier is None or earlier == current:
                self.problems.append(f"{pid}: the rule's earlier price names a tier it lacks, or is its price now")
                continue
            base, served, models, pattern = pid.rsplit("@", 1)[0], spec["served"], spec["models"], spec["pattern"]
            spec["prices"] = earlier
            spec["comments"] = spec["comments"] + [f"rule: the earlier price, seen until {known} ({rule['source']})"]
            self.report.append(f"dated {pid}")
            comments = [f"rule: the earlier price still, from {window}: it changed later, on a day not known"]
            kinds = sorted({f for f in overrides if f != "tiers"} | {f for t in overrides.get("tiers", []) for f in t
                                                                      if f != "above_input_tokens"})
            self.add(f"{base}@{window}~rule", _spec(comments, served, models, pattern, window, "",
                                                    _overridden(current, overrides), dict.fromkeys(kinds, doubt)),
                     f"uncertain period {base}@{window}", key)
            comments = [f"rule: the database's price, from {changed}, the first day it is seen"]
            self.add(f"{base}@{_label(changed)}~rule", _spec(comments, served, models, pattern, changed, "", current),
                     f"price period {base}@{changed}", key)

    def service_tier(self, rule: dict) -> None:
        tier, share = rule["tier"], Decimal(rule["multiplier"])
        for key in self.keys(rule):
            known = [s for _, s in self.by_key[key] + self.litellm_by_key.get(key, []) if s["tier"] == tier]
            for pid, spec in [(p, s) for p, s in self.by_key[key] if not s["tier"] and (s["models"] or s["pattern"])]:
                derived = _scaled(spec["prices"], dict.fromkeys(TOKEN_FIELDS, share))
                if known:  # the databases price this tier: the rule has to agree with them
                    for other in known:
                        if _moment(other["start"]) == _moment(spec["start"]):
                            self.check(f"{pid}#{tier}", derived, other["prices"])
                    continue
                comments = [f"rule: {tier} = {share} x the standard price ({rule['source']})"]
                self.add(f"{pid}#{tier}~rule", _spec(comments, spec["served"], spec["models"], spec["pattern"],
                                                     spec["start"], tier, derived), f"{tier} price {pid}", key)

    def once_per_call(self, rule: dict) -> None:
        """The unit prices that the provider charges once for a call that has any such units, not per unit."""
        rates = list(rule["rates"])
        for key in self.keys(rule):
            for pid, spec in self.by_key[key]:
                if any(rate in spec["prices"] for rate in rates):
                    spec["once_per_call"] = rates
                    spec["comments"] = spec["comments"] + [f"rule: {', '.join(rates)} once per call ({rule['source']})"]
                    self.report.append(f"once {pid}")

    def context_tier(self, rule: dict) -> None:
        threshold = rule["above_input_tokens"]
        multipliers = {f: Decimal(m) for f, m in rule["multipliers"].items()}
        for key in self.keys(rule):
            for pid, spec in self.by_key[key] + self.litellm_by_key.get(key, []):
                prices = spec["prices"]
                tier = {"above_input_tokens": threshold,
                        **{f: prices[f] * m for f, m in multipliers.items() if prices.get(f) is not None}}
                if "tiers" in prices or "time_of_day" in prices:
                    self.check(pid, {**prices, "tiers": [tier]}, prices)
                    continue
                prices["tiers"] = [tier]
                spec["comments"] = spec["comments"] + [f"rule: tier above {threshold} input tokens ({rule['source']})"]
                self.report.append(f"tiered {pid} above {threshold} input tokens")

    def check(self, where: str, derived: dict, theirs: dict) -> None:
        """The rule's prices must equal the database's wherever both have them."""
        differ = [f for f in TOKEN_FIELDS if f in derived and f in theirs and derived[f] != theirs[f]]
        mine, other = _tier_rates(derived), _tier_rates(theirs)
        differ += [f"{f} above {n}" for n, f in sorted(set(mine) & set(other)) if mine[(n, f)] != other[(n, f)]]
        if "time_of_day" in theirs or mine and other and {n for n, _ in mine} != {n for n, _ in other}:
            differ.append("tier thresholds or time-of-day prices")
        if differ:
            self.problems.append(f"{where}: the rule disagrees with the database on {', '.join(differ)}")
        else:
            self.report.append(f"confirmed by {where}")


def _tier_rates(prices: dict) -> dict:
    return {(t["above_input_tokens"], f): v for t in prices.get("tiers", []) for f, v in t.items() if f in TOKEN_FIELDS}


def _scaled(prices: dict, factors: dict) -> dict:
    out = {f: (v * factors[f] if f in factors else v) for f, v in prices.items() if f not in ("tiers", "time_of_day")}
    for nested in ("tiers", "time_of_day"):
        if nested in prices:
            out[nested] = [_scaled(item, factors) for item in prices[nested]]
    return out


def _overridden(prices: dict, overrides: dict) -> dict | None:
    """A copy of `prices` with the overrides' rates (tiers by threshold); None if a tier is not there."""
    out = {**prices, **_decimals({f: v for f, v in overrides.items() if f != "tiers"})}
    if "tiers" in prices:
        out["tiers"] = [dict(tier) for tier in prices["tiers"]]
    for tier in overrides.get("tiers", []):
        same = [t for t in out.get("tiers", []) if t["above_input_tokens"] == tier["above_input_tokens"]]
        if not same:
            return None
        same[0].update(_decimals({f: v for f, v in tier.items() if f != "above_input_tokens"}))
    return out


def _decimals(prices: dict) -> dict:
    return {f: Decimal(str(v)) for f, v in prices.items()}


def _spec(comments, served, models, pattern, start, tier, prices, uncertain=None) -> dict:
    spec = dict(comments=comments, served=list(served), models=list(models), pattern=pattern, start=start, tier=tier,
                prices=prices)
    return {**spec, "uncertain": uncertain} if uncertain else spec


def _moment(start: dt.date) -> dt.datetime:
    if isinstance(start, dt.datetime):
        return start.astimezone(dt.timezone.utc)
    return dt.datetime(start.year, start.month, start.day, tzinfo=dt.timezone.utc)


def _label(start: dt.date) -> str:
    moment = _moment(start)
    return start.isoformat() if not isinstance(start, dt.datetime) else moment.strftime("%Y-%m-%dT%H:%MZ")
