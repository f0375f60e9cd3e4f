"""Price book features end to end: validate, quote, coverage, reprice and what-if on real stored data."""

from __future__ import annotations

import json
import os
from decimal import Decimal
from pathlib import Path

import yaml

import otel_llmcost
from conftest import run_cli
from payloads import llm_span, post, request

CONTRACT_BOOK = """
version: contract-test-1
prices:
  - id: acme-llm/v1
    provider: openai
    models: [acme-llm]
    effective_from: 2020-01-01
    input: "1"
    cache_read: "0.5"
    cache_write: "2"
    cache_write_1h: "4"
    output: "10"
    reasoning: "20"
    audio_input: "40"
    per_request: "0.001"
    per_search: "0.01"
    tiers:
      - above_input_tokens: 1000
        input: "3"
        output: "30"
  - id: acme-llm/v1#batch
    provider: openai
    models: [acme-llm]
    effective_from: 2020-01-01
    service_tier: batch
    input: "0.5"
    output: "5"
deployments:
  - {provider: azure.ai.openai, name: prod-acme, model: acme-llm}
adjustments:
  - {id: globex-discount, tenant: globex, multiplier: "0.5", effective_from: 2020-01-01}
"""
MORE_ENTRIES = """\
  - {provider: azure.ai.openai, models: [acme-llm], effective_from: 2020-01-01, input: "1", output: "10"}
  - {provider: aws.bedrock, models: ['anthropic.claude-3-5-haiku-20241022-v1:0'], effective_from: 2020-01-01,
     input: "0.8", output: "4"}
"""


def _quote(config, *flags) -> dict:
    return json.loads(run_cli("prices", "quote", "--config", str(config), *flags, check=False).stdout)


def _config(tmp_path, book: str, data_dir=None) -> str:
    (tmp_path / "book.yaml").write_text(book)
    settings = {"pricing": {"price_books": [str(tmp_path / "book.yaml")]}}
    if data_dir:
        settings["data_dir"] = str(data_dir)
    (tmp_path / "settings.yaml").write_text(yaml.safe_dump(settings))
    return str(tmp_path / "settings.yaml")


def test_validate_reports_every_error_with_its_line(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: x\nprices:\n  - {provider: openai, models: [a], effective_from: 2026-01-01, input: 1.5,"
                   " output: '1'}\n  - {provider: openai, models: [b], effective_from: someday, input: '1', output:"
                   " '1'}\nadjustments:\n  - {tenant: acme}\n")
    result = run_cli("prices", "validate", str(bad), check=False)
    assert result.returncode == 1
    assert result.stdout.splitlines() == [
        f"{bad}:3: prices[0]: 'input' must be quoted (\"1.5\") so it is an exact decimal",
        f"{bad}:4: prices[1]: 'effective_from' must be a date or ISO datetime, got 'someday'",
        f"{bad}:6: adjustments[0]: 'multiplier' is required (e.g. \"0.8\" for 20% off)",
    ]
    good = tmp_path / "good.yaml"
    good.write_text(CONTRACT_BOOK)
    assert "valid, version contract-test-1, 2 prices, 1 deployments, 1 adjustments" in run_cli(
        "prices", "validate", str(good)).stdout


def test_quote_applies_tiers_service_tiers_cache_kinds_fees_deployments_and_contracts(tmp_path):
    config = _config(tmp_path, CONTRACT_BOOK)
    base = ["--provider", "openai", "--model", "acme-llm"]
    # 1000 input (not above the tier): 300 uncached incl. 100 audio, 200 cache read, 400 cache write of
    # which 100 for 1 hour; 500 output incl. 100 reasoning.
    cost = _quote(config, *base, "--input", "1000", "--cache-read", "200", "--cache-write", "400",
                  "--cache-write-1h", "100", "--audio-input", "100", "--output", "500", "--reasoning", "100",
                  "--web-searches", "3")
    expected = {"input_cost_usd": "0.000300000000",        # 300 x 1
                "cache_read_cost_usd": "0.000100000000",   # 200 x 0.5
                "cache_write_cost_usd": "0.001000000000",  # 300 x 2 + 100 x 4
                "audio_cost_usd": "0.004000000000",        # 100 x 40
                "output_cost_usd": "0.004000000000",       # 400 x 10
                "reasoning_cost_usd": "0.002000000000",    # 100 x 20
                "request_fee_usd": "0.001000000000", "search_fee_usd": "0.030000000000",  # 3 x 0.01
                "cost_usd": "0.042400000000",
                "status": "priced", "price_tier": "", "price_id": "acme-llm/v1"}
    assert {key: cost[key] for key in expected} == expected
    above = _quote(config, *base, "--input", "1001", "--output", "1")  # the whole call at the tier's rates
    assert (above["price_tier"], above["cost_usd"]) == (">1000", "0.004033000000")  # 1001x3 + 1x30 + fee
    batch = _quote(config, *base, "--input", "1000", "--output", "100", "--service-tier", "batch")
    assert (batch["price_id"], batch["cost_usd"]) == ("acme-llm/v1#batch", "0.001000000000")
    flex = _quote(config, *base, "--input", "1000", "--output", "100", "--service-tier", "flex")
    assert flex["status"] == "estimated" and "no 'flex' service-tier price" in flex["note"]
    contract = _quote(config, *base, "--input", "1000", "--output", "100", "--tenant", "globex")
    # (0.001 in + 0.001 out + 0.001 fee) / 2
    assert (contract["cost_usd"], contract["price_multiplier"]) == ("0.001500000000", "0.5")
    (tmp_path / "book.yaml").write_text(CONTRACT_BOOK.replace("deployments:", MORE_ENTRIES + "deployments:"))
    azure = _quote(config, "--provider", "azure.ai.openai", "--model", "prod-acme", "--input", "1000000")
    assert azure["cost_usd"] == "1.000000000000"
    bedrock = _quote(config, "--provider", "aws.bedrock", "--model", "us.anthropic.claude-3-5-haiku-20241022-v1:0",
                     "--input", "1000000")
    assert (bedrock["status"], bedrock["cost_usd"]) == ("priced", "0.800000000000")  # region prefix stripped


def _ingest(receiver, spans) -> None:
    assert post(receiver.http_url, request(*spans).SerializeToString(), "application/x-protobuf")[0] == 200


def test_coverage_reprice_and_whatif_on_stored_calls(receiver_factory, tmp_path):
    receiver = receiver_factory()
    trace = os.urandom(16)
    _ingest(receiver, [llm_span(trace, "mystery-9000", 2_000_000, 1_000_000),
                       llm_span(trace, "mystery-9000", 1_000_000, 0),
                       llm_span(trace, "gpt-4o-mini", 1_000_000, 1_000_000)])
    receiver.stop()
    data = str(receiver.data_dir)
    coverage = [json.loads(line)
                for line in run_cli("prices", "coverage", "--data-dir", data, "--json").stdout.splitlines()]
    assert [(r["model"], r["calls"], r["input_tokens"], r["now_priced_by"]) for r in coverage] == [
        ("mystery-9000", 2, 3_000_000, "")]

    config = _config(tmp_path, "version: fix-1\nprices:\n  - {id: mystery/v1, provider: openai, models: "
                     "[mystery-9000], effective_from: 2020-01-01, input: '1', output: '2'}\n", data)
    coverage = json.loads(run_cli("prices", "coverage", "--config", config, "--json").stdout)
    assert coverage["now_priced_by"] == "mystery/v1"

    dry = run_cli("reprice", "--config", config, "--since", "1d", "--dry-run")
    assert "3 calls checked, 2 would change" in dry.stdout and "nothing written" in dry.stdout
    assert "partition" in dry.stderr  # progress
    before = run_cli("sql", "--data-dir", data, "SELECT count() AS n FROM llmcost.llm_usage WHERE cost_usd IS NULL")
    assert json.loads(before.stdout) == {"n": 2}

    done = run_cli("reprice", "--config", config, "--since", "1d")
    assert "3 calls checked, 2 changed" in done.stdout
    rows = run_cli("sql", "--data-dir", data, "SELECT request_model, cost_usd, cost_status, price_id FROM "
                   "llmcost.llm_usage ORDER BY request_model, cost_usd").stdout
    assert [json.loads(line) for line in rows.splitlines()] == [
        {"request_model": "gpt-4o-mini", "cost_usd": "0.75", "cost_status": "priced",
         "price_id": "openai/gpt-4o-mini@2023-01-01"},
        {"request_model": "mystery-9000", "cost_usd": "1", "cost_status": "priced", "price_id": "mystery/v1"},
        {"request_model": "mystery-9000", "cost_usd": "4", "cost_status": "priced", "price_id": "mystery/v1"},
    ]
    stats = json.loads(run_cli("stats", "--data-dir", data, "--json").stdout)
    assert (stats["calls"], Decimal(stats["cost_usd"])) == (3, Decimal("5.75"))  # the totals agree
    runs = run_cli("sql", "--data-dir", data, "SELECT dry_run, rows, changed_rows, old_total_usd, new_total_usd "
                   "FROM llmcost.reprice_runs ORDER BY started_at").stdout
    assert [json.loads(line) for line in runs.splitlines()] == [
        {"dry_run": True, "rows": 3, "changed_rows": 2, "old_total_usd": "0.75", "new_total_usd": "5.75"},
        {"dry_run": False, "rows": 3, "changed_rows": 2, "old_total_usd": "0.75", "new_total_usd": "5.75"},
    ]

    whatif = [json.loads(line) for line in run_cli(
        "whatif", "--config", config, "--model", "gpt-4o-mini", "--since", "1d", "--json").stdout.splitlines()]
    # 4M input and 2M output at gpt-4o-mini's 0.15 / 0.60 per million
    assert whatif[-1] == {"provider": "", "model": "TOTAL", "calls": 3, "actual_usd": "5.75", "unpriced_calls": 0,
                          "as_gpt-4o-mini_usd": "1.800000000000", "estimated_calls": 0}
    narrowed = run_cli("whatif", "--config", config, "--model", "gpt-4o-mini", "--since", "1d", "--tenant", "nobody")
    assert "no LLM calls in this range" in narrowed.stderr


def test_prices_update_lists_the_changes_and_reprices_the_calls_they_affect(receiver_factory, tmp_path):
    """A newer build of the bundled book (here: the bundled file with gpt-4o-mini repriced from a date and a
    model added, as a genai-prices release would) is compared with the bundled one; only the calls it
    prices differently are counted, and --reprice changes them."""
    receiver = receiver_factory()
    trace = os.urandom(16)
    _ingest(receiver, [llm_span(trace, "gpt-4o-mini", 1_000_000, 0), llm_span(trace, "gpt-4o", 1_000_000, 0)])
    receiver.stop()
    bundled = (Path(otel_llmcost.__file__).parent / "pricing/data/default_prices.yaml").read_text()
    newer = bundled.replace("\nprices:\n", """
prices:
  - id: 'openai/gpt-4o-mini@2026-01-01'
    provider: openai
    models: ['gpt-4o-mini']
    effective_from: 2026-01-01
    input: "0.10"
    output: "0.4"
  - id: 'openai/gpt-new@2026-01-01'
    provider: openai
    models: ['gpt-new']
    effective_from: 2026-01-01
    input: "1"
    output: "2"
""", 1)
    (tmp_path / "newer.yaml").write_text(newer)
    data = str(receiver.data_dir)
    update = run_cli("prices", "update", "--data-dir", data, "--from", str(tmp_path / "newer.yaml"), "--since", "1d")
    lines = update.stdout.splitlines()
    assert any("gpt-4o-mini" in line and "2026-01-01" in line and "added" in line for line in lines), update.stdout
    assert any("gpt-new" in line and "added" in line for line in lines)
    assert "1 stored calls of 1 models since" in update.stdout and "otel-llmcost reprice --since" in update.stdout

    repriced = run_cli("prices", "update", "--data-dir", data, "--from", str(tmp_path / "newer.yaml"),
                       "--since", "1d", "--reprice")
    assert "1 calls repriced" in repriced.stdout, repriced.stdout
    rows = {row["request_model"]: row for row in json.loads("[" + ",".join(run_cli(
        "sql", "--data-dir", data, "SELECT request_model, toString(cost_usd) AS usd, price_id FROM llmcost.llm_usage"
    ).stdout.splitlines()) + "]")}
    assert (rows["gpt-4o-mini"]["usd"], rows["gpt-4o-mini"]["price_id"]) == ("0.1", "openai/gpt-4o-mini@2026-01-01")
    assert rows["gpt-4o"]["usd"] == "2.5"  # unchanged


def _genai_prices_data() -> list:
    """The installed genai-prices' providers as the JSON its own updater fetches (prices/new_data/v2/data.json):
    what a newer genai-prices release publishes, before it is packaged."""
    import dataclasses
    import datetime as dt

    from genai_prices.data import providers

    def raw(value):
        if type(value).__name__ == "ModelPrice":  # a plain class holding its prices as attributes
            return {key: raw(v) for key, v in vars(value).items() if not key.startswith("_") and v is not None}
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            return {f.name.removesuffix("_"): raw(getattr(value, f.name)) for f in dataclasses.fields(value)
                    if getattr(value, f.name) is not None}
        if isinstance(value, (set, frozenset)):
            return [raw(item) for item in sorted(value)]
        if isinstance(value, (list, tuple)):
            return [raw(item) for item in value]
        if isinstance(value, dict):
            return {key: raw(v) for key, v in value.items()}
        if isinstance(value, Decimal):
            return str(value)
        if isinstance(value, (dt.date, dt.datetime, dt.time)):
            return value.isoformat()
        return value.pattern if hasattr(value, "pattern") and hasattr(value, "flags") else value

    return raw(providers)


def test_prices_update_builds_from_newer_genai_prices_data(receiver_factory, tmp_path):
    """The build path of `prices update`: a newer genai-prices data file (the installed package's data with
    gpt-4o-mini repriced from a date and a model added, as its next release would publish them) and LiteLLM
    1.109.1's price map (the bundled book's other source, tests/fixtures/prices) are built into a book by
    scripts/build_price_book.py. Against the bundled book exactly those two changes are listed, by model and
    date; the stored calls they price differently are counted, and --reprice reprices them."""
    import datetime as dt
    import gzip

    from genai_prices.types import _providers_from_raw

    receiver = receiver_factory()
    trace = os.urandom(16)
    _ingest(receiver, [llm_span(trace, "gpt-4o-mini", 1_000_000, 1_000_000), llm_span(trace, "gpt-4o", 1_000_000, 0)])
    receiver.stop()

    data = _genai_prices_data()
    assert _providers_from_raw(json.loads(json.dumps(data))) is not None  # genai-prices reads it back
    changed_from = (dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=2)).date().isoformat()
    openai = next(provider for provider in data if provider["id"] == "openai")
    mini = next(model for model in openai["models"] if model["id"] == "gpt-4o-mini")
    mini["prices"] = [{"prices": mini["prices"]}, {"constraint": {"start_date": changed_from},
                                                   "prices": {**mini["prices"], "input_mtok": "0.12",
                                                              "output_mtok": "0.48"}}]
    openai["models"].append({"id": "gpt-9-mini", "match": {"equals": "gpt-9-mini"}, "name": "gpt 9 mini",
                             "prices": {"input_mtok": "0.2", "output_mtok": "0.8"}})
    newer = tmp_path / "genai-prices-data.json"
    newer.write_text(json.dumps(data))
    litellm = tmp_path / "litellm-1.109.1-model-prices.json"  # the name gives its version, as in a wheel
    litellm.write_bytes(gzip.decompress(
        (Path(__file__).parent / "fixtures/prices/litellm-1.109.1-model-prices.json.gz").read_bytes()))

    state = str(receiver.data_dir)
    update = run_cli("prices", "update", "--data-dir", state, "--genai-prices-data", str(newer),
                     "--litellm", str(litellm), "--since", "1d", "--json")
    changes = {(c["provider"], c["models"].split(", ")[0], c["effective_from"], c["service_tier"], c["change"])
               for c in map(json.loads, (line for line in update.stdout.splitlines() if line.startswith("{")))}
    # Azure OpenAI takes OpenAI's prices for the models it does not price itself (genai-prices' fallback). Its
    # batch price of gpt-4o-mini came from LiteLLM, whose extras join a model's current genai-prices price only
    # when they agree with it (scripts/litellm_source.py): against the new price they do not, so it goes.
    assert changes == {*((provider, model, start, "", "added") for provider in ("openai", "azure.ai.openai")
                         for model, start in (("gpt-4o-mini", changed_from), ("gpt-9-mini", "2023-01-01"))),
                       ("azure.ai.openai", "gpt-4o-mini", "2023-01-01", "batch", "removed")}, update.stdout
    assert "1 stored calls of 1 models since" in update.stdout, update.stdout
    assert "otel-llmcost reprice --since" in update.stdout

    repriced = run_cli("prices", "update", "--data-dir", state, "--genai-prices-data", str(newer),
                       "--litellm", str(litellm), "--since", "1d", "--reprice")
    assert "1 calls repriced" in repriced.stdout, repriced.stdout
    rows = {row["request_model"]: row for row in map(json.loads, run_cli(
        "sql", "--data-dir", state, "SELECT request_model, toString(cost_usd) AS usd FROM llmcost.llm_usage"
    ).stdout.splitlines())}
    assert rows["gpt-4o-mini"]["usd"] == "0.6"  # 1M input x 0.12 + 1M output x 0.48, the newer price
    assert rows["gpt-4o"]["usd"] == "2.5"  # unchanged
