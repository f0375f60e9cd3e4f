"""`why`: a constructed change of each kind is named as the largest cause, and the causes add up to the change
exactly. Real rows, priced by the real pricing path with a real price book, in real chDB; one tenant per case.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest

from conftest import read_only_store, run_cli
from otel_llmcost.kinds import COST_COLUMNS as KIND_COSTS
from otel_llmcost.kinds import COUNTED
from otel_llmcost.kinds import COUNTS as USAGE_KINDS
from otel_llmcost.pricing.loader import load_price_book
from otel_llmcost.pricing.quote import quote
from otel_llmcost.reports import why_report, why_sql
from otel_llmcost.reports.why import CAUSES, Range, Segment, decompose
from otel_llmcost.store.chdb_store import ChdbStore
from test_store import BASE_ROW

# The ranges are off the hour, so the partial hours at both ends come from raw rows and the rest from rollups.
SINCE = datetime(2026, 11, 3, 0, 30, tzinfo=timezone.utc)
UNTIL = SINCE + timedelta(days=1)
PRICES = f"""
version: why-test
prices:
  - {{provider: testco, models: [big], effective_from: 2026-01-01, input: "3", cache_read: "0.3", output: "15",
      per_image: "0.04"}}
  - {{provider: testco, models: [small], effective_from: 2026-01-01, input: "0.5", cache_read: "0.05", output: "2"}}
  - {{provider: testco, models: [pricey], effective_from: 2026-01-01, input: "1", cache_read: "0.1", output: "4"}}
  - {{provider: otherco, models: [big], effective_from: 2026-01-01, input: "2", cache_read: "0.2", output: "10"}}
  - {{provider: testco, models: [pricey], effective_from: {SINCE.isoformat()}, input: "3", cache_read: "0.3",
      output: "12"}}
"""


@dataclasses.dataclass
class Call:
    feature: str = "summarize"
    model: str = "big"
    input: int = 1000
    cache_read: int = 200
    output: int = 100
    calls: int = 1  # calls per request, all first attempts
    retried: bool = False  # a failed first attempt (prompt, no output) before this one
    user: str = "u1"
    provider: str = "testco"
    images: int = 0  # generated images, billed by the image beside the tokens


def _traffic(requests: dict[str, int], **change) -> list[tuple[Call, int]]:
    """Requests per feature/model key 'feature/model', each with the same calls (changed by `change`)."""
    return [(dataclasses.replace(Call(*key.split("/")), **change), count) for key, count in requests.items()]


_BASE = {"summarize/big": 30, "summarize/small": 30, "chat/small": 60}
# case -> (baseline traffic, current traffic, the cause that must be the largest)
CASES = {
    "requests": (_traffic(_BASE), _traffic({k: v * 2 for k, v in _BASE.items()})),
    "calls_per_request": (_traffic(_BASE), _traffic(_BASE, calls=2)),
    "feature_mix": (_traffic(_BASE), _traffic({"summarize/big": 55, "summarize/small": 55, "chat/small": 10})),
    "model_mix": (_traffic(_BASE), _traffic({"summarize/big": 55, "summarize/small": 5, "chat/small": 60})),
    "retries": (_traffic(_BASE), _traffic(_BASE, retried=True)),
    "prompt": (_traffic(_BASE), _traffic(_BASE, input=4000, cache_read=800)),
    "cache": (_traffic(_BASE, input=4000, cache_read=0), _traffic(_BASE, input=4000, cache_read=3600)),
    "completion": (_traffic(_BASE), _traffic(_BASE, output=600)),
    "price": (_traffic({"summarize/pricey": 60}), _traffic({"summarize/pricey": 60})),
    "new": (_traffic(_BASE), _traffic(_BASE | {"translate/big": 40})),
    "vanished": (_traffic(_BASE), _traffic({k: v for k, v in _BASE.items() if k != "summarize/big"})),
}
# Images per call double at the same price: usage (kinds.py's `why`: completion), not price (the panel once
# charged units beside its own list of kinds per call, at the baseline's rate, so this was its price cause).
IMAGES = (_traffic({"draw/big": 20}, images=1), _traffic({"draw/big": 20}, images=2))
# One tenant, several users and providers: u-grew's requests double; otherco's prompts grow (u-flat's calls).
_OTHERCO = {"chat/big": 20}
SCOPED = (_traffic(_BASE, user="u-grew") + _traffic(_BASE, user="u-flat")
          + _traffic(_OTHERCO, user="u-flat", provider="otherco"),
          _traffic({k: v * 2 for k, v in _BASE.items()}, user="u-grew") + _traffic(_BASE, user="u-flat")
          + _traffic(_OTHERCO, user="u-flat", provider="otherco", input=4000, cache_read=800))


def _rows(tenant: str, traffic: list[tuple[Call, int]], start: datetime, book) -> list:
    rows, minute = [], 0
    for call, count in traffic:
        for n in range(count):
            request = f"{tenant}-{start:%d}-{call.feature}-{call.model}-{n}" + (
                f"-{call.user}-{call.provider}" if tenant == "scoped" else "")
            attempts = [(1, "error", call.output * 0)] if call.retried else []
            attempts += [(len(attempts) + 1, "ok", call.output)] * 1
            for index in range(call.calls):
                for attempt, status, output in attempts:
                    minute += 1
                    ts = start + timedelta(minutes=minute % 1430, seconds=minute // 1430)
                    usage = {"input_tokens": call.input, "cache_read_tokens": call.cache_read, "output_tokens": output,
                             "images": call.images if output else 0}
                    cost = quote(book, "testco", call.model, usage, ts)
                    rows.append(dataclasses.replace(
                        BASE_ROW, ts=ts, tenant_id=tenant, feature=call.feature, request_id=request, attempt=attempt,
                        status=status, provider=call.provider, user_id=call.user, request_model=call.model,
                        response_model=call.model,
                        trace_id=f"{abs(hash(request)):032x}"[:32], span_id=f"{len(rows):08x}{index:08x}",
                        cache_read_tokens=call.cache_read, output_tokens=output, input_tokens=call.input,
                        images=usage["images"], **{name: getattr(cost, name) for name in (
                            *KIND_COSTS, "cost_usd", "price_id", "price_book_version", "price_tier",
                            "price_multiplier")}, cost_status=cost.status, cost_note=cost.note))
    return rows


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("why")
    prices = path / "prices.yaml"
    prices.write_text(PRICES)
    book = load_price_book([str(prices)])
    store = ChdbStore(str(path / "chdb"), "llmcost")
    store.ensure_schema()
    for tenant, (before, after) in CASES.items():
        store.insert_usage(_rows(tenant, before, SINCE - timedelta(days=1), book))
        store.insert_usage(_rows(tenant, after, SINCE, book))
    store.insert_usage(_rows("images", IMAGES[0], SINCE - timedelta(days=1), book))
    store.insert_usage(_rows("images", IMAGES[1], SINCE, book))
    store.insert_usage(_rows("scoped", SCOPED[0], SINCE - timedelta(days=1), book))
    store.insert_usage(_rows("scoped", SCOPED[1], SINCE, book))
    store.close()
    return path


@pytest.fixture
def store(data_dir) -> ChdbStore:
    return read_only_store(data_dir / "chdb")


def _stored_change(store, tenant: str | None, where: str = "1", **params: str) -> Decimal:
    where += " AND tenant_id = {tenant:String}" if tenant else ""
    [row] = store.query(
        "SELECT toString(sumIf(cost_usd, ts >= {since:DateTime64(6)}) - sumIf(cost_usd, ts < {since:DateTime64(6)}))"
        f" AS change FROM llmcost.llm_usage WHERE {where}"
        " AND ts >= {start:DateTime64(6)} AND ts < {end:DateTime64(6)}",
        {"since": SINCE.strftime("%Y-%m-%d %H:%M:%S"), "tenant": tenant or "",
         "start": (SINCE - timedelta(days=1)).strftime("%Y-%m-%d %H:%M:%S"),
         "end": UNTIL.strftime("%Y-%m-%d %H:%M:%S")} | params)
    return Decimal(row["change"])


def _why(store, scope):
    baseline = why_report.baseline_of(SINCE, UNTIL, None)
    return why_report.run(store.query, why_report.why("llmcost", scope, SINCE, UNTIL, baseline))


@pytest.mark.parametrize("case", list(CASES))
def test_each_constructed_change_is_named_as_the_largest_cause(store, case):
    report = _why(store, {"tenant": case})
    change = _stored_change(store, case)
    causes = {cause["cause"]: Decimal(cause["change_usd"]) for cause in report["causes"]}
    assert report["causes"][0]["cause"] == case, report["causes"]
    assert abs(causes[case]) > 0
    assert sum(causes.values(), Decimal(0)) == Decimal(report["change_usd"]) == change  # exactly
    assert Decimal(report["cost_usd"]) - Decimal(report["baseline_cost_usd"]) == change


def unit_causes(count: str, cost: str, units: tuple[int, int], prices: tuple[str, str]) -> dict[str, Decimal]:
    """The causes (those not zero) of one segment's change, 10 calls in each range with the same tokens, whose
    kind `count` (charged on the column `cost`) goes from units[0] at prices[0] each to units[1] at prices[1]."""
    key = ("search", "testco", "big")

    def one_range(units: int, price: str) -> Range:
        counts = dict.fromkeys(why_sql.COUNTS + USAGE_KINDS, 0) | {
            "calls": 10, "input_tokens": 10_000, "output_tokens": 1_000, count: units}
        costs = dict.fromkeys(why_sql.COSTS, Decimal(0)) | {"input_cost_usd": Decimal("0.02"),
                                                             "output_cost_usd": Decimal("0.008")}
        costs[cost] += units * Decimal(price)
        costs["cost_usd"] = sum((costs[column] for column in KIND_COSTS), Decimal(0))
        return Range({key: Segment(key, counts, costs)}, 10)

    causes = decompose(one_range(units[0], prices[0]), one_range(units[1], prices[1]))
    return {cause.cause: cause.change_usd for cause in causes if cause.change_usd}


@pytest.mark.parametrize("kind", [kind for kind in COUNTED if not kind.part_of and kind.count not in (
    "input_tokens", "output_tokens")], ids=lambda kind: kind.count)
def test_units_beside_tokens_have_their_own_share(kind):
    """Twice the web searches, file searches, images or seconds of audio per call at the same price is usage
    (kinds.py's `why` for the kind), not a price change; a new price for them alone is the price cause."""
    assert unit_causes(kind.count, kind.cost, (10, 20), ("0.01", "0.01")) == {
        kind.why or "completion": Decimal("0.1")}
    assert unit_causes(kind.count, kind.cost, (10, 10), ("0.01", "0.03")) == {"price": Decimal("0.2")}


def test_every_cause_is_zero_without_a_change(store):
    baseline = (SINCE - timedelta(days=1), SINCE, "test")
    # the "requests" case's baseline against itself shifted by nothing: the same calls on both sides
    report = why_report.run(store.query, why_report.why("llmcost", {"tenant": "calls_per_request"},
                                                        *baseline[:2], baseline))
    assert {Decimal(cause["change_usd"]) for cause in report["causes"]} == {0}


def test_the_whole_store_and_a_feature_add_up_exactly(store):
    for scope in ({}, {"feature": "summarize"}, {"model": "small"}, {"tenant": "retries", "feature": "chat"}):
        report = _why(store, scope)
        parts = sum((Decimal(cause["change_usd"]) for cause in report["causes"]), Decimal(0))
        assert parts == Decimal(report["change_usd"]), scope
    assert _stored_change(store, None) == Decimal(_why(store, {})["change_usd"])


@pytest.mark.parametrize(("scope", "cause", "where"), [
    ({"user": "u-grew"}, "requests", "user_id = 'u-grew'"),
    ({"tenant": "scoped", "user": "u-flat"}, "prompt", "user_id = 'u-flat'"),
    ({"provider": "otherco"}, "prompt", "provider = 'otherco'"),
    ({"tenant": "scoped", "provider": "testco"}, "requests", "provider = 'testco'"),
])
def test_a_user_or_a_provider_is_a_scope(store, scope, cause, where):
    """Within one tenant, u-grew's requests doubled while otherco's prompts (u-flat's calls) grew: each scope
    names its own cause, adds up to its own stored change exactly, and lists only its own requests."""
    report = _why(store, scope)
    change = _stored_change(store, scope.get("tenant"), where)
    assert report["causes"][0]["cause"] == cause, report["causes"]
    assert sum(Decimal(c["change_usd"]) for c in report["causes"]) == Decimal(report["change_usd"]) == change != 0
    for request in report["top_requests"]:
        assert all(call[name] == value for call in request["attempts"] for name, value in scope.items()
                   if name == "provider"), request
        if "user" in scope:
            assert request["user"] == scope["user"]
        assert request["request_id"].endswith(scope.get("provider", "")), request["request_id"]
    assert report["top_requests"]


def test_the_command_and_the_endpoint_take_user_and_provider(data_dir):
    from otel_llmcost.keys import QUERY, KeyStore
    from query_clients import api_get, start_listener

    window = {"since": SINCE.isoformat(), "until": UNTIL.isoformat()}
    report = json.loads(run_cli("why", "--data-dir", str(data_dir), "--user", "u-grew", "--provider", "testco",
                                "--since", window["since"], "--until", window["until"], "--json").stdout)
    assert report["scope"] == {"user": "u-grew", "provider": "testco"}
    assert report["causes"][0]["cause"] == "requests"
    keys = KeyStore(data_dir / "keys-scope.json")
    _, admin = keys.create(None, (QUERY,))
    listener = start_listener(str(data_dir / "chdb"), keys)
    try:
        status, body = api_get(listener.port, "/api/v1/why", admin, user="u-grew", provider="testco", **window)
    finally:
        listener.stop()
    assert status == 200 and body == report


def test_retries_name_the_retried_requests_with_their_attempts(data_dir):
    out = run_cli("why", "--data-dir", str(data_dir), "--tenant", "retries", "--since", SINCE.isoformat(),
                  "--until", UNTIL.isoformat(), "--json").stdout
    report = json.loads(out)
    assert report["baseline"] == {"since": "2026-11-02T00:30:00+00:00", "until": "2026-11-03T00:30:00+00:00",
                                  "chosen": "the previous 1d"}
    assert report["causes"][0]["label"] == "retries and failed attempts"
    top = report["top_requests"]
    assert len(top) == 5 and all(row["request_calls"] == 2 for row in top)
    first = top[0]
    assert [(call["attempt"], call["status"]) for call in first["attempts"]] == [(1, "error"), (2, "ok")]
    shares = [Decimal(call["cost_share_pct"]) for call in first["attempts"]]
    assert shares[1] > shares[0] > 0
    assert sum(Decimal(call["cost"]) for call in first["attempts"]) == Decimal(first["request_cost_usd"])
    text = run_cli("why", "--data-dir", str(data_dir), "--tenant", "retries", "--since", SINCE.isoformat(),
                   "--until", UNTIL.isoformat()).stdout
    assert "retries and failed attempts" in text and "the previous 1d" in text
    assert max(len(line) for line in text.splitlines()) <= 100


def test_request_shows_its_attempts(data_dir):
    request_id = "retries-03-summarize-big-0"
    report = json.loads(run_cli("request", request_id, "--data-dir", str(data_dir), "--json").stdout)
    assert (report["tenant_id"], report["calls"], report["failed_calls"], report["attempts_max"]) == (
        "retries", 2, 1, 2)
    assert [call["attempt"] for call in report["attempts"]] == [1, 2]
    assert sum(Decimal(call["cost"]) for call in report["attempts"]) == Decimal(report["cost_usd"])
    assert report["attempts"][0]["trace_id"] in report["trace_ids"]
    text = run_cli("request", request_id, "--data-dir", str(data_dir)).stdout
    assert "request retries-03-summarize-big-0 of tenant retries: 2 calls, 1 failed" in text
    missing = run_cli("request", "nope", "--data-dir", str(data_dir), check=False)
    assert missing.returncode == 1 and "no such request" in missing.stdout


def test_the_named_endpoint_answers_as_the_command_and_keeps_a_tenant_key_to_its_tenant(data_dir):
    from otel_llmcost.keys import QUERY, KeyStore
    from query_clients import api_get, start_listener

    keys = KeyStore(data_dir / "keys.json")
    _, admin = keys.create(None, (QUERY,))
    _, prompt_key = keys.create("prompt", (QUERY,))
    writer = ChdbStore(str(data_dir / "chdb"), "llmcost")
    listener = start_listener(str(data_dir / "chdb"), keys)

    def get(path: str, secret: str, **params) -> tuple[int, dict]:
        return api_get(listener.port, path, secret, **params)

    try:
        window = {"since": SINCE.isoformat(), "until": UNTIL.isoformat()}
        status, body = get("/api/v1/why", admin, tenant="cache", **window)
        assert status == 200, body
        assert body == _why(writer, {"tenant": "cache"})
        assert body["causes"][0]["cause"] == "cache"
        # a tenant's key answers for its own calls only, whatever the scope asks
        status, own = get("/api/v1/why", prompt_key, **window)
        assert status == 200 and own["causes"][0]["cause"] == "prompt"
        assert own["change_usd"] == _why(writer, {"tenant": "prompt"})["change_usd"]
        status, other = get("/api/v1/why", prompt_key, tenant="cache", **window)
        assert status == 200 and other["figures"]["current"]["calls"] == 0
        status, one = get("/api/v1/request", admin, id="retries-03-summarize-big-0")
        assert status == 200 and [call["attempt"] for call in one["attempts"]] == [1, 2]
        status, hidden = get("/api/v1/request", prompt_key, id="retries-03-summarize-big-0")
        assert status == 200 and hidden == {"request_id": "retries-03-summarize-big-0", "tenants": []}
        assert get("/api/v1/why", admin, since="yesterday")[0] == 400
        assert get("/api/v1/request", admin)[0] == 400
    finally:
        listener.stop()
        writer.close()


def test_the_openapi_document_lists_every_cause():
    from pathlib import Path

    import yaml

    document = yaml.safe_load((Path(__file__).parent.parent / "docs" / "openapi.yaml").read_text(encoding="utf-8"))
    causes = document["paths"]["/api/v1/why"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert causes["properties"]["causes"]["items"]["properties"]["cause"]["enum"] == [name for name, _ in CAUSES]


def test_the_dashboard_panel_names_the_same_causes_and_adds_up_exactly(store):
    from grafana_plugin import ALL, ROOT, by_uid, expand, queries, settings

    sys.path.insert(0, str(ROOT))
    panel = queries(by_uid("llmcost-overview"))["panel 'Why the cost changed (against the period before)' A"]
    labels = {label: cause for cause, label in CAUSES}
    for tenant in [*CASES, "images", ALL]:
        variables = settings("llmcost-overview", tenant=tenant)
        rows = store.query(expand(panel, variables, (SINCE, UNTIL)))
        report = _why(store, {"tenant": tenant} if tenant != ALL else {})
        cli = {cause["cause"]: Decimal(cause["change_usd"]) for cause in report["causes"]}
        shown = {labels[row["cause"]]: Decimal(row["change_usd"]) for row in rows}
        assert shown.keys() == cli.keys()
        assert sum(shown.values(), Decimal(0)) == Decimal(report["change_usd"]), tenant  # exactly
        if tenant == ALL:  # requests over all tenants are sketches (≈): only the volume's split between requests
            volume = ("requests", "calls_per_request")  # and calls per request can differ, not their sum
            for named in (shown, cli):
                named["volume"] = sum((named.pop(cause, Decimal(0)) for cause in volume), Decimal(0))
        for cause, usd in shown.items():  # Float64 against exact fractions: the same to 1e-9 dollars
            assert abs(usd - cli[cause]) < Decimal("1e-9"), (tenant, cause, usd, cli[cause])
        if tenant != ALL:
            assert labels[rows[0]["cause"]] == {"images": "completion"}.get(tenant, tenant)
