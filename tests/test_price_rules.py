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
