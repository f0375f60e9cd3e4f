"""Price book lookup: effective dates, user layers over the bundled book, exact Decimal costs, validation."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timezone
from decimal import Decimal

import pytest

from otel_llmcost.errors import PriceBookError
from otel_llmcost.model import LlmCall
from otel_llmcost.pricing import load_price_book, price_call, price_calls

USER_BOOK = """
version: contract-2026
prices:
  - provider: openai
    models: [gpt-4o]
    effective_from: 2026-06-01
    input: "1.00"
    output: "4.00"
  - provider: openai
    models: [gpt-4o]
    effective_from: "2026-09-01T12:00:00Z"
    input: "0.50"
    output: "2.00"
  - provider: night-owl
    models: [owl-1]
    effective_from: 2020-01-01
    input: "2"
    output: "8"
    time_of_day:
      - utc: "22:30-06:00"
        input: "1"
  - provider: self-hosted
    pattern: 'llama-3\\.\\d+-.*'
    effective_from: 2020-01-01
    input: "0.10"
    output: "0.10"
"""


def _call(model: str, provider: str = "openai", **tokens) -> LlmCall:
    counts = {"input_tokens": 0, "cache_read_tokens": 0, "cache_write_tokens": 0, "output_tokens": 0,
              "reasoning_tokens": 0, **tokens}
    return LlmCall("otel-genai", provider, "chat", model, "", "", **counts, error_type="", streaming=False,
                   ttft_ms=None, service_tier="", server_address="")


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=timezone.utc)


def test_a_batch_is_priced_exactly_as_each_call_alone(tmp_path):
    path = tmp_path / "contract.yaml"
    path.write_text(USER_BOOK + "adjustments:\n  - {id: globex-discount, tenant: globex, multiplier: '0.37',"
                                 " effective_from: '2026-06-15T00:00:00Z'}\n")
    book = load_price_book([str(path)])
    gpt = _call("gpt-4o", input_tokens=1234, cache_read_tokens=600, cache_write_tokens=33, output_tokens=77,
                reasoning_tokens=9)
    batch = [  # calls across entry switches, tiers of the day, adjustments, fallbacks, unknown and invalid ones
        (gpt, "2026-05-31T23:59:59", "globex"), (gpt, "2026-06-01T00:00:00", "globex"),
        (gpt, "2026-06-15T00:00:00", "globex"), (gpt, "2026-06-15T00:00:00", "acme"),
        (gpt, "2026-09-01T12:00:00", "globex"), (gpt, "2026-09-01T12:00:00", ""),
        (_call("owl-1", "night-owl", input_tokens=999_999, output_tokens=3), "2026-01-01T23:00:00", "globex"),
        (_call("owl-1", "night-owl", input_tokens=999_999, output_tokens=3), "2026-01-01T12:00:00", "globex"),
        (_call("Llama-3.1-8B", "self-hosted", input_tokens=7, output_tokens=1), "2026-07-01T00:00:00", "globex"),
        (_call("no-such-model", input_tokens=5), "2026-07-01T00:00:00", ""),
        (dataclasses.replace(gpt, usage_issue="counts do not add up"), "2026-07-01T00:00:00", ""),
        (dataclasses.replace(_call("no-such-model"), error_type="timeout"), "2026-07-01T00:00:00", ""),
        (_call("claude-sonnet-4-5-20250929", "anthropic", input_tokens=300_000, output_tokens=10), "2026-07-01", ""),
        (_call("claude-sonnet-4-5-20250929", "anthropic", input_tokens=3000, output_tokens=10), "2026-07-01", ""),
    ]
    calls, ats, tenants = [call for call, _, _ in batch], [_at(at) for _, at, _ in batch], [t for _, _, t in batch]
    together = price_calls(calls, ats, book, tenants)
    alone = [price_call(call, at, book, tenant) for call, at, tenant in zip(calls, ats, tenants, strict=True)]
    assert [repr(cost) for cost in together] == [repr(cost) for cost in alone]  # repr: Decimal exponents too
    assert len({(cost.status, cost.price_id, cost.price_tier, cost.price_multiplier) for cost in together}) >= 9
    assert together[2].price_multiplier == Decimal("0.37") and together[3].price_multiplier == 1


@pytest.fixture
def book(tmp_path):
    path = tmp_path / "contract.yaml"
    path.write_text(USER_BOOK)
    return load_price_book([str(path)])


def test_user_layer_overrides_from_its_date_and_versions_switch_on_time(book):
    call = _call("gpt-4o", input_tokens=1_000_000, output_tokens=1_000_000)
    before = price_call(call, _at("2026-05-31T23:59:59"), book)
    assert before.price_book_version.startswith("genai-prices")  # bundled: 2.50 in, 10 out
    assert before.cost_usd == Decimal("12.5")
    first = price_call(call, _at("2026-06-01T00:00:00"), book)
    assert (first.price_id, first.cost_usd, first.price_book_version) == (
        "openai/gpt-4o@2026-06-01", Decimal(5), "contract-2026")
    assert price_call(call, _at("2026-09-01T11:59:59"), book).cost_usd == Decimal(5)
    assert price_call(call, _at("2026-09-01T12:00:00"), book).cost_usd == Decimal("2.5")


def test_patterns_and_unknown_models(book):
    cost = price_call(_call("Llama-3.1-70B", "self-hosted", input_tokens=3, output_tokens=7), _at("2026-01-01"), book)
    assert cost.cost_usd == Decimal("0.000001")
    unknown = price_call(_call("no-such-model", input_tokens=5), _at("2026-01-01"), book)
    assert (unknown.status, unknown.cost_usd, unknown.price_id) == ("unpriced", None, "")
    assert "no price for model 'no-such-model' of provider 'openai'" in unknown.note


def test_cost_by_kind_is_exact_and_missing_cache_price_is_an_estimate(book):
    call = _call("gpt-4o", input_tokens=1000, cache_write_tokens=100, output_tokens=50)
    cost = price_call(call, _at("2026-10-01"), book)  # 0.50 in / 2.00 out, no cache prices
    assert cost.status == "estimated" and "no cache_write price: charged at the input rate" in cost.note
    assert (cost.input_cost_usd, cost.cache_write_cost_usd, cost.output_cost_usd) == (
        Decimal("0.00045"), Decimal("0.00005"), Decimal("0.0001"))
    assert cost.cost_usd == Decimal("0.0006")


def test_time_of_day_prices_apply_in_their_utc_hours_across_midnight(book):
    call = _call("owl-1", "night-owl", input_tokens=1_000_000, output_tokens=1_000_000)
    costs = {hour: price_call(call, _at(f"2026-01-01T{hour}"), book) for hour in
             ("22:29:59", "22:30:00", "23:59:00", "00:00:00", "05:59:59", "06:00:00")}
    assert {hour: cost.cost_usd for hour, cost in costs.items()} == {
        "22:29:59": Decimal(10), "22:30:00": Decimal(9), "23:59:00": Decimal(9), "00:00:00": Decimal(9),
        "05:59:59": Decimal(9), "06:00:00": Decimal(10)}  # the window's input rate; output inherited
    assert (costs["00:00:00"].price_tier, costs["06:00:00"].price_tier) == ("22:30-06:00 UTC", "")


def test_a_price_change_on_an_unknown_day_is_an_estimate_between_its_known_bounds(book):
    """Bundled: Gemini 2.5 Flash cache hits cost 25% of input until at least 2025-06-22 and 10% from
    2025-11-07 at the latest (scripts/price_rules.yaml); in between, the earlier price, marked estimated."""
    call = _call("gemini-2.5-flash", "gcp.gemini", input_tokens=1_000_000, cache_read_tokens=1_000_000)
    costs = {day: price_call(call, _at(day), book) for day in ("2025-06-22T23:59:59", "2025-06-23", "2025-11-06T23:59",
                                                               "2025-11-07")}
    assert {day: (cost.status, cost.cache_read_cost_usd) for day, cost in costs.items()} == {
        "2025-06-22T23:59:59": ("priced", Decimal("0.075")), "2025-06-23": ("estimated", Decimal("0.075")),
        "2025-11-06T23:59": ("estimated", Decimal("0.075")), "2025-11-07": ("priced", Decimal("0.03"))}
    assert costs["2025-06-23"].note.startswith("the price changed between 2025-06-22 and 2025-11-07")
    assert costs["2025-06-23"].price_id == "gcp/gemini-2.5-flash@2025-06-23~rule"
    no_cache_hits = price_call(_call("gemini-2.5-flash", "gcp.gemini", input_tokens=10), _at("2025-07-01"), book)
    assert (no_cache_hits.status, no_cache_hits.note) == ("priced", "")  # only the cache-read price is in doubt


def test_a_user_book_can_mark_its_price_uncertain(tmp_path):
    path = tmp_path / "guess.yaml"
    path.write_text("prices:\n  - {provider: acme, models: [m1], effective_from: 2026-01-01, input: '1', output: '2',"
                    " uncertain: 'list price not published; our guess'}\n")
    cost = price_call(_call("m1", "acme", input_tokens=1_000_000), _at("2026-02-01"), load_price_book([str(path)]))
    assert (cost.status, cost.note, cost.cost_usd) == ("estimated", "list price not published; our guess", Decimal(1))
    path.write_text("prices:\n  - {provider: acme, models: [m1], effective_from: 2026-01-01, input: '1', output: '2',"
                    " uncertain: {output: 'a guess'}}\n")
    call = _call("m1", "acme", input_tokens=5, output_tokens=5)
    cost = price_call(call, _at("2026-02-01"), load_price_book([str(path)]))
    assert (cost.status, cost.note) == ("estimated", "a guess")
    path.write_text("prices:\n  - {provider: acme, models: [m1], effective_from: 2026-01-01, input: '1', output: '2',"
                    " uncertain: [yes]}\n")
    with pytest.raises(PriceBookError, match="'uncertain' must be text"):
        load_price_book([str(path)])
    path.write_text("prices:\n  - {provider: acme, models: [m1], effective_from: 2026-01-01, input: '1', output: '2',"
                    " uncertain: {cache_reed: 'x'}}\n")
    with pytest.raises(PriceBookError, match=r"'uncertain' names \['cache_reed'\], not rate kinds \(input, "):
        load_price_book([str(path)])


@pytest.mark.parametrize("entry, message", [
    ("{provider: p, models: [m], effective_from: 2026-01-01, input: '1', output: '1', time_of_day: [{utc: '9-17'}]}",
     "HH:MM-HH:MM"),
    ("{provider: p, models: [m], effective_from: 2026-01-01, input: '1', output: '1', "
     "time_of_day: [{utc: '08:00-12:00'}, {utc: '11:00-13:00'}]}", "overlaps"),
    ("{provider: p, models: [m], effective_from: 2026-01-01, input: '1', output: '1', "
     "time_of_day: [{utc: '08:00-12:00'}], tiers: [{above_input_tokens: 10, input: '2'}]}", "not both"),
    ("{provider: openai, models: [m], effective_from: 2026-01-01, input: 1.5, output: '1'}", "must be quoted"),
    ("{provider: openai, effective_from: 2026-01-01, input: '1', output: '1'}", "needs 'models' or 'pattern'"),
    ("{provider: openai, models: [m], effective_from: soon, input: '1', output: '1'}", "effective_from"),
    ("{provider: openai, models: [m], effective_from: 2026-01-01, input: '-1', output: '1'}", "non-negative"),
    ("{provider: openai, models: [m], effective_from: 2026-01-01, output: '1'}", "'input' price is required"),
    ("{provider: openai, models: [m], effective_from: 2026-01-01, input: '1', output: '1', colour: red}",
     "unknown keys"),
])
def test_invalid_price_books_name_the_file_and_entry(tmp_path, entry, message):
    path = tmp_path / "bad.yaml"
    path.write_text(f"prices:\n  - {entry}\n")
    with pytest.raises(PriceBookError) as error:
        load_price_book([str(path)])
    assert str(error.value).startswith(f"{path}:2: prices[0]: ")  # file, line of the entry, entry
    assert message in str(error.value)


def test_the_cached_bundled_book_is_the_parsed_one(tmp_path):
    from otel_llmcost.pricing import load_price_book

    parsed = load_price_book()
    written = load_price_book(cache_dir=str(tmp_path))
    [cache_file] = tmp_path.glob("price-book-*.pickle")
    cache_file.write_bytes(cache_file.read_bytes()[:100])  # a torn cache is parsed again, not trusted
    reparsed = load_price_book(cache_dir=str(tmp_path))
    [cache_file] = tmp_path.glob("price-book-*.pickle")
    cached = load_price_book(cache_dir=str(tmp_path))
    assert parsed.layers == written.layers == reparsed.layers == cached.layers
    assert len(parsed.layers[0].entries) > 100


BOOK_IN = """
version: units
currency: {currency}
unit: {unit}
prices:
  - provider: openai
    models: [gpt-4o]
    effective_from: 2024-01-01
    input: "{input}"
    output: "{output}"
    per_request: "0.001"
    tiers:
      - above_input_tokens: 1000
        input: "{tier_input}"
"""


def test_a_book_in_another_currency_or_an_unknown_unit_is_refused(tmp_path):
    for currency, unit, said in (("EUR", "per_million_tokens", "currency 'EUR' is not supported"),
                                 ("USD", "per_1k_tokens", "unit 'per_1k_tokens' is not one of")):
        path = tmp_path / f"{currency}-{unit}.yaml"
        path.write_text(BOOK_IN.format(currency=currency, unit=unit, input="2.5", output="10", tier_input="5"))
        with pytest.raises(PriceBookError, match=said):
            load_price_book([str(path)])


def test_a_book_per_thousand_tokens_prices_as_the_same_book_per_million(tmp_path):
    costs = []
    for unit, factor in (("per_thousand_tokens", Decimal("0.001")), ("per_million_tokens", Decimal(1))):
        path = tmp_path / f"{unit}.yaml"
        path.write_text(BOOK_IN.format(currency="USD", unit=unit, input=Decimal("2.5") * factor,
                                       output=Decimal(10) * factor, tier_input=Decimal(5) * factor))
        book = load_price_book([str(path)])
        at = datetime(2026, 1, 1, tzinfo=timezone.utc)
        costs.append([price_call(_call("gpt-4o", input_tokens=n, output_tokens=100), at, book) for n in (500, 2000)])
    assert costs[0] == costs[1]
    small, large = costs[0]
    # 500 x 2.5 + 100 x 10 per million, the request fee as written (per call, not per token)
    assert (small.cost_usd, large.input_cost_usd) == (Decimal("0.003250"), Decimal("0.01"))


def test_an_alias_is_priced_as_the_snapshot_it_pointed_to_that_day(tmp_path):
    book = load_price_book()
    june, november = datetime(2024, 6, 1, tzinfo=timezone.utc), datetime(2024, 11, 1, tzinfo=timezone.utc)
    call = _call("gpt-4o", input_tokens=1_000_000, output_tokens=1_000_000)
    before, after = price_call(call, june, book), price_call(call, november, book)
    assert (before.price_id, before.cost_usd) == ("openai/gpt-4o-2024-05-13@2023-01-01", Decimal(20))  # 5 + 15
    assert (after.price_id, after.cost_usd) == ("openai/gpt-4o@2023-01-01", Decimal("12.5"))  # 2.50 + 10
    # the response model, when the span has it, is what was served: it wins over the alias's history
    served = _call("gpt-4o", input_tokens=1_000_000, output_tokens=0)
    served.response_model = "gpt-4o-2024-08-06"
    assert price_call(served, june, book).cost_usd == Decimal("2.5")
    # a user book's history is used over the bundled one
    mine = tmp_path / "aliases.yaml"
    mine.write_text("version: mine\naliases:\n  - {provider: openai, name: gpt-4o, model: gpt-4o-2024-08-06,"
                    " effective_from: 2024-01-01}\n")
    assert price_call(call, june, load_price_book([str(mine)])).cost_usd == Decimal("12.5")
