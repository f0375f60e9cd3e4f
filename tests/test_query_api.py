"""The named endpoints on a real listener over real chDB: raw table and hourly rollup give the same answers."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from query_clients import api_get, start_listener

from otel_llmcost.keys import QUERY, KeyStore
from otel_llmcost.query.endpoint_sql import FILTERS, GROUPS, PERFORMANCE_GROUPS
from otel_llmcost.store.chdb_store import ChdbStore

OPENAPI = Path(__file__).parent.parent / "docs" / "openapi.yaml"
SINCE, UNTIL = "2026-11-01T00:00:00Z", "2026-11-02T00:00:00Z"
ROWS = [  # tenant, feature, provider, model, user, hour, latency, ttft, input, output, cost, status
    ("acme", "chat", "openai", "gpt-4o", "u1", 10, 800.0, 120.0, 1000, 200, "0.0125", "ok"),
    ("acme", "chat", "openai", "gpt-4o", "u2", 10, 1200.0, None, 3000, 100, "0.0085", "error"),
    ("acme", "search", "anthropic", "claude", "u1", 11, 400.0, 80.0, 500, 50, "0.002", "ok"),
    ("globex", "chat", "openai", "gpt-4o", "u9", 12, 900.0, 100.0, 7000, 700, "0.07", "ok"),
]


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    root = tmp_path_factory.mktemp("api")
    writer = ChdbStore(str(root / "chdb"), "llmcost")
    writer.ensure_schema()
    for tenant, feature, provider, model, user, hour, latency, ttft, tokens_in, tokens_out, cost, status in ROWS:
        writer.command(
            "INSERT INTO llmcost.llm_usage (ts, tenant_id, feature, provider, request_model, user_id, latency_ms,"
            " ttft_ms, input_tokens, output_tokens, cost_usd, status) VALUES ({ts:String}, {t:String}, {f:String},"
            " {p:String}, {m:String}, {u:String}, {l:Float64}, {ttft:Nullable(Float64)}, {i:UInt64}, {o:UInt64},"
            " {c:Decimal(38, 12)}, {s:String})",
            {"ts": f"2026-11-01 {hour}:15:00", "t": tenant, "f": feature, "p": provider, "m": model, "u": user,
             "l": latency, "ttft": ttft, "i": tokens_in, "o": tokens_out, "c": cost,
             "s": status})
    keys = KeyStore(root / "keys.json")
    _, admin = keys.create(None, (QUERY,))
    _, acme = keys.create("acme", (QUERY,))
    listener = start_listener(str(root / "chdb"), keys)

    def get(path: str, secret: str = admin, **params) -> tuple[int, dict]:
        return api_get(listener.port, path, secret, **params)

    yield get, writer, acme
    listener.stop()
    writer.close()


def test_usage_by_every_dimension(api):
    get, _, _ = api
    status, body = get("/api/v1/usage", by="tenant", since=SINCE, until="2026-11-01T23:59:00Z")
    assert status == 200 and body["source"] == "llm_usage"
    assert [(r["group"], r["calls"], r["input_tokens"], r["cost_usd"]) for r in body["rows"]] == [
        ("globex", 1, 7000, "0.07"), ("acme", 3, 4500, "0.023")]
    assert [r["group"] for r in get("/api/v1/usage", by="user", since=SINCE, until=UNTIL)[1]["rows"]][0] == "u9"
    days = get("/api/v1/usage", by="day", since=SINCE, until=UNTIL)[1]["rows"]
    assert [(r["group"], r["calls"]) for r in days] == [("2026-11-01", 4)]
    feature = get("/api/v1/usage", by="model", since=SINCE, until=UNTIL, feature="chat", tenant="acme")[1]
    assert [(r["group"], r["calls"], r["failed_calls"]) for r in feature["rows"]] == [("gpt-4o", 2, 1)]


def test_a_tenant_key_sees_its_tenant_only(api):
    get, _, acme = api
    body = get("/api/v1/usage", acme, by="tenant", since=SINCE, until=UNTIL, tenant="globex")[1]
    assert body["rows"] == []  # asking for another tenant finds nothing
    assert [r["group"] for r in get("/api/v1/usage", acme, by="tenant", since=SINCE, until=UNTIL)[1]["rows"]] == [
        "acme"]


def test_bad_requests_get_clear_errors(api):
    get, _, _ = api
    status, body = get("/api/v1/usage", by="colour")
    assert status == 400 and "by must be one of" in body["error"]
    status, body = get("/api/v1/performance", by="tenant")
    assert status == 400
    status, body = get("/api/v1/usage", since="yesterday")
    assert status == 400 and "since" in body["error"]
    status, body = get("/api/v1/usage", "llmc_wrong_key")
    assert status == 401 and body["name"] == "AUTHENTICATION_FAILED"


def test_rollup_answers_like_the_raw_table(api):
    """The migration's materialized views fill usage_hourly from the same inserts."""
    get, _, _ = api
    raw_usage = get("/api/v1/usage", by="model", since=SINCE, until="2026-11-01T23:59:00Z")[1]
    raw_perf = get("/api/v1/performance", by="provider", since=SINCE, until="2026-11-01T23:59:00Z")[1]
    assert "rows" in raw_perf, raw_perf
    rolled_usage = get("/api/v1/usage", by="model", since=SINCE, until=UNTIL)[1]
    rolled_perf = get("/api/v1/performance", by="provider", since=SINCE, until=UNTIL)[1]
    assert (raw_usage["source"], rolled_usage["source"]) == ("llm_usage", "usage_hourly")
    assert rolled_usage["rows"] == raw_usage["rows"]
    for raw, rolled in zip(raw_perf["rows"], rolled_perf["rows"], strict=True):
        assert (raw["group"], raw["calls"], raw["success_rate"]) == (rolled["group"], rolled["calls"],
                                                                     rolled["success_rate"])
        assert raw["output_tokens_per_second"] == pytest.approx(rolled["output_tokens_per_second"])
        for name in ("p50", "p95", "p99"):  # t-digests merge in any order: tolerances, not digits
            assert raw["latency_ms"][name] == pytest.approx(rolled["latency_ms"][name], rel=0.05)
    openai = next(row for row in rolled_perf["rows"] if row["group"] == "openai")
    assert (openai["calls"], openai["success_rate"]) == (3, pytest.approx(2 / 3, abs=1e-6))
    # The user dimension is not in the rollup: the raw table answers it.
    assert get("/api/v1/usage", by="user", since=SINCE, until=UNTIL)[1]["source"] == "llm_usage"


def test_openapi_document_names_both_endpoints():
    document = yaml.safe_load(OPENAPI.read_text(encoding="utf-8"))
    assert set(document["paths"]) >= {"/api/v1/usage", "/api/v1/performance"}
    by = next(p for p in document["paths"]["/api/v1/usage"]["get"]["parameters"] if p.get("name") == "by")
    assert by["schema"]["enum"] == list(GROUPS)
    perf_by = next(p for p in document["paths"]["/api/v1/performance"]["get"]["parameters"] if p.get("name") == "by")
    filters = {ref["$ref"].rsplit("/", 1)[1] for ref in document["paths"]["/api/v1/usage"]["get"]["parameters"]
               if "$ref" in ref}
    assert filters == {"since", "until", *FILTERS}
    assert perf_by["schema"]["enum"] == list(PERFORMANCE_GROUPS)
