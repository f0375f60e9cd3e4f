"""scripts/price_rules.py: derived prices are checked against the databases, and a disagreement stops the build."""

from __future__ import annotations

import datetime as dt
import sys
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
import price_rules  # noqa: E402

START = dt.date(2023, 1, 1)
PROVIDERS = {"acme": ("acme", ["acme_ai"], {})}
BATCH = {"keys": "acme/.*", "tier": "batch", "multiplier": "0.5", "source": "https://acme.example/batch"}


def _spec(tier: str = "", **prices) -> dict:
    return dict(comments=[], served=["acme_ai"], models=["m"], pattern=None, start=START, tier=tier,
                prices={f: Decimal(v) for f, v in prices.items()})


def test_a_service_tier_rule_fills_gaps_and_must_agree_with_the_database():
    by_key = {"acme/old": [("acme/old@2023-01-01", _spec(input="2", output="8"))],
              "acme/new": [("acme/new@2023-01-01", _spec(input="4", output="10")),
                           ("acme/new@2023-01-01#batch", _spec("batch", input="2", output="5"))]}
    new, report, problems = price_rules.apply({"service_tiers": [BATCH]}, by_key, {}, PROVIDERS, START)
    assert problems == []
    assert [(pid, spec["tier"], spec["prices"]) for pid, spec in new] == [
        ("acme/old@2023-01-01#batch~rule", "batch", {"input": Decimal("1.0"), "output": Decimal("4.0")})]
    assert "confirmed by acme/new@2023-01-01#batch" in report

    by_key["acme/new"][1][1]["prices"]["output"] = Decimal(6)  # the database's batch price is not 50%
    problems = price_rules.apply({"service_tiers": [BATCH]}, by_key, {}, PROVIDERS, START)[2]
    assert problems == ["acme/new@2023-01-01#batch: the rule disagrees with the database on output"]


def test_context_tiers_periods_and_stale_rules():
    by_key = {"acme/m": [("acme/m@2023-01-01", _spec(input="3", output="15"))]}
    rules = {
        "context_tiers": [{"keys": "acme/m", "above_input_tokens": 200000,
                           "multipliers": {"input": "2", "output": "1.5"}, "source": "s"}],
        "price_periods": [{"keys": "acme/m", "effective_from": dt.datetime(2025, 9, 5, 16, tzinfo=dt.timezone.utc),
                           "prices": {"input": "1", "output": "2"}, "source": "s"}],
        "corrections": [{"keys": "acme/missing", "prices": {"input": "1"}, "source": "s"}],
    }
    new, _, problems = price_rules.apply(rules, by_key, {}, PROVIDERS, START)
    assert problems == ["rule 'acme/missing' matches no model key"]
    assert by_key["acme/m"][0][1]["prices"]["tiers"] == [
        {"above_input_tokens": 200000, "input": Decimal(6), "output": Decimal("22.5")}]
    assert [pid for pid, _ in new] == ["acme/m@2025-09-05T16:00Z~rule"]
    # a period the database already has (or passed) is reported, not added again
    problems = price_rules.apply({"price_periods": rules["price_periods"]}, by_key, {}, PROVIDERS, START)[2]
    assert problems and "past the rule's" in problems[0]


def test_an_earlier_price_gets_dated_with_an_uncertain_window_until_the_current_one():
    spec = _spec(input="1.25", cache_read="0.125", output="10")
    spec["prices"]["tiers"] = [{"above_input_tokens": 200000, "input": Decimal("2.5"), "cache_read": Decimal("0.25")}]
    by_key = {"acme/m": [("acme/m@2023-01-01", spec)]}
    earlier = {"cache_read": "0.31", "tiers": [{"above_input_tokens": 200000, "cache_read": "0.625"}]}
    rule = {"models": {"acme/m": earlier},
            "known_until": dt.date(2025, 6, 22), "changed_by": dt.date(2025, 11, 7), "source": "s"}
    new, _, problems = price_rules.apply({"earlier_prices": [rule]}, by_key, {}, PROVIDERS, START)
    assert problems == []
    cache_reads = {pid: (s["start"], s["prices"]["cache_read"], s["prices"]["tiers"][0]["cache_read"],
                         s.get("uncertain")) for pid, s in by_key["acme/m"]}
    assert cache_reads == {
        "acme/m@2023-01-01": (START, Decimal("0.31"), Decimal("0.625"), None),
        "acme/m@2025-06-23~rule": (dt.date(2025, 6, 23), Decimal("0.31"), Decimal("0.625"), {
            "cache_read": "the price changed between 2025-06-22 and 2025-11-07, on a day not known: charged the "
                          "earlier price (s)"}),
        "acme/m@2025-11-07~rule": (dt.date(2025, 11, 7), Decimal("0.125"), Decimal("0.25"), None)}
    assert [pid for pid, _ in new] == ["acme/m@2025-06-23~rule", "acme/m@2025-11-07~rule"]

    # once the database carries the earlier price itself (or history), the rule must go
    stale = {"acme/m": [("acme/m@2023-01-01", _spec(input="1.25", cache_read="0.31", output="10"))]}
    rule["models"]["acme/m"] = {"cache_read": "0.31"}
    assert "is its price now" in price_rules.apply({"earlier_prices": [rule]}, stale, {}, PROVIDERS, START)[2][0]
    dated = {"acme/m": [("acme/m@2025-07-01", dict(_spec(input="1", output="2"), start=dt.date(2025, 7, 1)))]}
    assert "not one undated standard price" in price_rules.apply({"earlier_prices": [rule]}, dated, {}, PROVIDERS,
                                                                  START)[2][0]
