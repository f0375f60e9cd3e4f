"""Grafana dashboards: every query, macros expanded as by the plugin, runs on real chDB with known results.

The plugin's emulation `expand()` and the dashboards as data are in grafana_plugin.py (the bench uses them too).
"""

from __future__ import annotations

import dataclasses
import json
import re
import sys
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest
import yaml

from demo_data import demo_receiver, hour_range
from grafana_plugin import ALL, DASHBOARDS, FROM, ROOT, TO, by_uid, expand, panels, queries, settings, variables_of
from otel_llmcost.store.chdb_store import ChdbStore
from test_store import BASE_ROW

sys.path.insert(0, str(ROOT))
from scripts.build_dashboards import render as render_dashboards  # noqa: E402
from scripts.dashboards.sql import facts  # noqa: E402

GRAFANA = ROOT / "grafana"
PLUGIN = "grafana-clickhouse-datasource"
DATASOURCE_UID = "llmcost-clickhouse"

# --- the dashboards as data ------------------------------------------------------------------------------


def data_links(dashboard: dict) -> list[tuple[dict, str, str]]:
    """(panel, the column the link is on, its URL) of every data link."""
    found = []
    for panel in panels(dashboard):
        for override in panel["fieldConfig"]["overrides"]:
            for prop in override["properties"]:
                if prop["id"] == "links":
                    found.extend((panel, override["matcher"]["options"], link["url"]) for link in prop["value"])
    return found


# --- the seeded store ------------------------------------------------------------------------------------

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=timezone.utc)
RETRIED_TRACE = "11111111111111111111111111111111"
PRICED = {"cost_status": "priced", "cost_note": ""}
NO_COST = {"input_cost_usd": None, "cache_read_cost_usd": None, "cache_write_cost_usd": None,
           "output_cost_usd": None, "reasoning_cost_usd": None, "cost_usd": None, "price_id": ""}


def usage(n: int, minutes: float, **fields):
    return dataclasses.replace(BASE_ROW, **{
        "span_id": f"{n:016x}", "trace_id": f"{n:032x}", "ts": T0 + timedelta(minutes=minutes), **fields})


ROWS = [
    # acme/summarize r1: attempt 1 fails (no tokens, $0), attempt 2 succeeds.
    usage(1, 0, tenant_id="acme", feature="summarize", request_id="r1", attempt=1, trace_id=RETRIED_TRACE,
          status="error", error_type="RateLimitError", input_tokens=0, output_tokens=0,
          input_cost_usd=Decimal(0), output_cost_usd=Decimal(0), cost_usd=Decimal(0), latency_ms=120.0,
          **PRICED),
    usage(2, 0.5, tenant_id="acme", feature="summarize", request_id="r1", attempt=2, trace_id=RETRIED_TRACE,
          input_tokens=1000, output_tokens=200, input_cost_usd=Decimal("0.0025"),
          output_cost_usd=Decimal("0.002"), cost_usd=Decimal("0.0045"), latency_ms=900.0, ttft_ms=250.0,
          streaming=True, **PRICED),
    usage(3, 10, tenant_id="acme", feature="summarize", request_id="r2", input_tokens=2000,
          cache_read_tokens=1000, output_tokens=100, input_cost_usd=Decimal("0.0025"),
          cache_read_cost_usd=Decimal("0.00125"), output_cost_usd=Decimal("0.001"),
          cost_usd=Decimal("0.00475"), latency_ms=700.0, **PRICED),
    # acme/chat r3: a model with no price: NULL cost, never $0.
    usage(4, 20, tenant_id="acme", feature="chat", request_id="r3", provider="acme-llm",
          request_model="mystery-1", response_model="mystery-1", input_tokens=500, output_tokens=50,
          cost_status="unpriced", cost_note="no price for mystery-1", latency_ms=300.0, **NO_COST),
    usage(5, 30, tenant_id="globex", feature="chat", request_id="r4", request_model="gpt-4o-mini",
          response_model="gpt-4o-mini", input_tokens=1000, output_tokens=250,
          input_cost_usd=Decimal("0.00015"), output_cost_usd=Decimal("0.00015"), cost_usd=Decimal("0.0003"),
          latency_ms=400.0, **PRICED),
    usage(6, 40, tenant_id="globex", feature="summarize", request_id="r5", input_tokens=3,
          cache_write_tokens=1, output_tokens=1, cost_usd=Decimal("0.000010000001"), cost_status="estimated",
          cost_note="cache_write charged at the input price", latency_ms=100.0),
    # globex/chat r6: token counts that cannot be right are not priced either: NULL cost, but gpt-4o-mini has a
    # price, so it is invalid usage, never counted as a call without a price.
    usage(7, 50, tenant_id="globex", feature="chat", request_id="r6", request_model="gpt-4o-mini",
          response_model="gpt-4o-mini", cost_status="invalid_usage",
          cost_note="reasoning_tokens > output_tokens", latency_ms=50.0, **NO_COST),
    # A month before the time range: no panel may count it.
    usage(8, -31 * 24 * 60, tenant_id="acme", feature="summarize", request_id="old", cost_usd=Decimal("1"),
          **PRICED),
]
TOTAL = "0.009560000001"  # rows 1-6
SUMMARIZE_TOTAL = "0.009260000001"  # rows 1, 2, 3 and 6


SEEDED_CALLS = 7  # rows 1-7 are in the range


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    # chDB opens one data path per process: one store for the whole module.
    opened = ChdbStore(str(tmp_path_factory.mktemp("grafana") / "chdb"), "llmcost")
    opened.ensure_schema()
    opened.insert_usage(ROWS)
    yield opened
    opened.close()


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """(reader, time range): a receiver holding a week of `otel-llmcost demo` traffic."""
    with demo_receiver(tmp_path_factory.mktemp("demo") / "data") as (_, reader):
        yield reader, hour_range()


def estimate(exact: float):
    """A request count as the panels that say ≈ give it over all tenants: a HyperLogLog sketch (uniqCombined(12),
    ~1.6 % standard error; exact for small counts, as in the seeded store's)."""
    return pytest.approx(exact, rel=0.05)


def run(store, uid: str, title: str, time_range=(FROM, TO), **chosen: str) -> list[dict]:
    """Rows of a panel (by title) or a query variable ('var <name>') of dashboard `uid`."""
    sql = next(text for name, text in queries(by_uid(uid)).items() if name == title or f"{title!r}" in name)
    return store.query(expand(sql, settings(uid, **chosen), time_range))


def raw(store, select: str, time_range, where: str = "1") -> dict:
    """A direct aggregate over the raw rows of the range."""
    since, until = (int(t.timestamp()) for t in time_range)
    return store.query(f"SELECT {select} FROM llmcost.llm_usage WHERE ts >= toDateTime({since}) AND "
                       f"ts <= toDateTime({until}) AND {where}")[0]


# --- every query runs ------------------------------------------------------------------------------------

CASES = [(board["uid"], name) for board in DASHBOARDS.values() for name in queries(board)]
SCENARIOS = {
    "all": {"request_id": "r1", "trace_id": RETRIED_TRACE},
    "concrete": {"tenant": "acme", "feature": "summarize", "model": "gpt-4o", "provider": "openai",
                 "environment": "prod", "service": "api", "request_id": "r1", "trace_id": RETRIED_TRACE},
    "user": {"user": "u1", "request_id": "r1", "trace_id": RETRIED_TRACE},
}
TRACE_VIEW = "panel 'Trace ${trace_id}' A"
SEEDED_CASES = [case for case in CASES if case[1] != TRACE_VIEW]  # hand-made rows have no spans


@pytest.mark.parametrize("scenario", SCENARIOS)
@pytest.mark.parametrize(("uid", "name"), SEEDED_CASES, ids=[f"{uid}:{name}" for uid, name in SEEDED_CASES])
def test_every_query_runs_and_returns_rows(store, uid, name, scenario):
    sql = expand(queries(by_uid(uid))[name], settings(uid, **SCENARIOS[scenario]))
    assert store.query(sql), f"no rows from {name}:\n{sql}"


@pytest.mark.parametrize(("uid", "name"), CASES, ids=[f"{uid}:{name}" for uid, name in CASES])
def test_every_query_runs_on_demo_traffic(demo, uid, name):
    reader, time_range = demo
    some = reader.query("SELECT request_id, trace_id FROM llmcost.llm_usage WHERE attempt = 2 LIMIT 1")[0]
    sql = expand(queries(by_uid(uid))[name], settings(uid, **some), time_range)
    assert reader.query(sql), f"no rows from {name}:\n{sql}"


def test_expansion_is_the_plugins():
    sql = "WHERE $__timeFilter(ts) AND $__conditionalAll(t IN (${tenant:singlequote}), $tenant) AND x=$v"
    assert expand(sql, {"tenant": [ALL], "v": "1"}) == (
        "WHERE ts >= toDateTime(1793491200) AND ts <= toDateTime(1793577600) AND 1=1 AND x=1")
    assert expand("$__conditionalAll(t IN (${tenant:singlequote}), ${tenant})", {"tenant": ["a", "o'b"]}) == (
        "t IN ('a','o\\'b')")
    assert expand("$__conditionalAll(f = ${f:singlequote}, $f)", {"f": ""}) == "1=1"
    assert expand("$__timeInterval(ts) AS time", {}) == (
        "toStartOfInterval(toDateTime(ts), INTERVAL 3600 second) AS time")
    assert expand("$__conditionalAll(0, $user)", {"user": ["u1"]}) == "0"


# --- known results: hand-made rows -------------------------------------------------------------------------


def test_spend_is_the_exact_decimal_sum(store):
    assert run(store, "llmcost-overview", "Spend") == [{"cost": TOTAL}]
    assert run(store, "llmcost-overview", "Spend", feature="summarize") == [{"cost": SUMMARIZE_TOTAL}]
    assert run(store, "llmcost-overview", "Spend", tenant="acme", feature="summarize") == [{"cost": "0.00925"}]
    # A user is no rollup dimension: the same panel then reads the raw rows, to the same total.
    assert run(store, "llmcost-overview", "Spend", user="u1") == [{"cost": TOTAL}]
    assert run(store, "llmcost-overview", "Spend", user="nobody") == [{"cost": "0"}]


def test_calls_without_a_cost_are_counted_next_to_the_costs(store):
    assert run(store, "llmcost-overview", "Unpriced share") == [{"unpriced_share": 1 / SEEDED_CALLS}]
    assert run(store, "llmcost-overview", "Estimated share") == [{"estimated_share": 1 / SEEDED_CALLS}]
    mystery = next(row for row in run(store, "llmcost-overview", "Top models") if row["model"] == "mystery-1")
    assert (mystery["cost"], mystery["unpriced_calls"]) == ("0", 1)


def test_top_tenants_and_feature_ranking(store):
    tenants = run(store, "llmcost-overview", "Top tenants")
    assert [(row["tenant_id"], row["cost"], row["unpriced_calls"]) for row in tenants] == [
        ("acme", "0.00925", 1), ("globex", "0.000310000001", 0)]
    ranking = run(store, "llmcost-drilldown", "Feature ranking")
    acme_summarize = next(r for r in ranking if (r["tenant_id"], r["feature"]) == ("acme", "summarize"))
    assert (acme_summarize["cost"], acme_summarize["calls"], acme_summarize["requests"],
            acme_summarize["retries"], acme_summarize["failed_calls"]) == ("0.00925", 3, 2, 1, 1)
    assert acme_summarize["avg_latency_ms"] == round((120 + 900 + 700) / 3, 1)


def test_time_series_are_zero_filled(store):
    hourly = run(store, "llmcost-overview", "Spend per hour by feature")
    assert len(hourly) == 24 * 2  # every hour of the day, for both features
    assert {(r["time"], r["feature"]): r["cost"] for r in hourly if r["cost"] != "0"} == {
        ("2026-11-01 12:00:00", "chat"): "0.0003", ("2026-11-01 12:00:00", "summarize"): SUMMARIZE_TOTAL}
    [day] = run(store, "llmcost-overview", "Spend per day")
    assert day == {"time": "2026-11-01 00:00:00", "cost": TOTAL}


def test_request_detail_is_a_summary_and_the_attempts(store):
    rows = run(store, "llmcost-drilldown", "Request ${request_id}", request_id="r1", tenant="acme")
    summary, *attempts = rows
    assert (summary["row_type"], summary["attempts"], summary["retries"], summary["cost_usd"]) == (
        "request", 2, 1, "0.0045")
    assert summary["prompt_share"] == round(1000 / 1200, 4)
    assert [(a["attempt"], a["status"], a["error_type"], a["cost_usd"], a["cost_share"]) for a in attempts] == [
        (1, "error", "RateLimitError", "0", 0), (2, "ok", "", "0.0045", 1)]
    assert {a["trace_id"] for a in attempts} == {RETRIED_TRACE}
    assert run(store, "llmcost-drilldown", "Request ${request_id}", request_id="") == []
    assert run(store, "llmcost-drilldown", "Request ${request_id}", request_id="r1", tenant="globex") == []


# --- known results: a week of demo traffic, against direct sums over its raw rows -------------------------


def test_demo_stats_equal_the_raw_rows(demo):
    reader, time_range = demo
    direct = raw(reader, "sum(cost_usd) AS cost, count() AS calls, sum(input_tokens) + sum(output_tokens) AS tokens,"
                 " uniqExact(tenant_id, request_id) AS requests, countIf(cost_usd IS NULL) / count() AS unpriced",
                 time_range)
    overview = "llmcost-overview"
    assert run(reader, overview, "Spend", time_range) == [{"cost": direct["cost"]}]
    assert run(reader, overview, "Calls", time_range) == [{"calls": direct["calls"]}]
    assert run(reader, overview, "Tokens", time_range) == [{"tokens": direct["tokens"]}]
    [requests] = run(reader, overview, "Requests", time_range)
    assert requests["requests"] == estimate(direct["requests"])
    assert run(reader, overview, "Unpriced share", time_range) == [{"unpriced_share": direct["unpriced"]}]
    [per_request] = run(reader, overview, "Cost per request", time_range)
    assert float(per_request["cost_per_request"]) == estimate(float(Decimal(direct["cost"]) / direct["requests"]))
    days = run(reader, overview, "Spend per day", time_range)
    since, until = time_range
    assert len(days) == (until - timedelta(seconds=1)).toordinal() - since.toordinal() + 1  # every day, 0 or not
    assert sum(Decimal(d["cost"]) for d in days) == Decimal(direct["cost"])


def test_demo_filters_equal_the_raw_rows(demo):
    reader, time_range = demo
    user = reader.query("SELECT user_id FROM llmcost.llm_usage WHERE tenant_id = 'acme' LIMIT 1")[0]["user_id"]
    for chosen, where in (({"user": user}, f"user_id = '{user}'"), ({"model": "gpt-4o-mini"},
                          "request_model = 'gpt-4o-mini'"), ({"tenant": "globex", "feature": "chat"},
                          "tenant_id = 'globex' AND feature = 'chat'"), ({"environment": "staging"},
                          "environment = 'staging'"), ({"service": "docs-api", "provider": "anthropic"},
                          "service_name = 'docs-api' AND provider = 'anthropic'")):
        direct = raw(reader, "sum(cost_usd) AS cost, count() AS calls", time_range, where)
        assert direct["calls"] > 0, chosen
        assert run(reader, "llmcost-overview", "Spend", time_range, **chosen) == [{"cost": direct["cost"]}], chosen
        assert run(reader, "llmcost-overview", "Calls", time_range, **chosen) == [{"calls": direct["calls"]}], chosen
    tenants = run(reader, "llmcost-overview", "Top tenants", time_range)
    by_tenant = reader.query("SELECT tenant_id, sum(cost_usd) AS cost FROM llmcost.llm_usage GROUP BY tenant_id")
    assert {r["tenant_id"]: r["cost"] for r in tenants} == {r["tenant_id"]: r["cost"] for r in by_tenant}


def test_demo_time_series_draw_every_bucket(demo):
    reader, time_range = demo
    hours = int((time_range[1] - time_range[0]).total_seconds() // 3600)
    features = raw(reader, "uniqExact(feature) AS n", time_range)["n"]
    hourly = run(reader, "llmcost-overview", "Spend per hour by feature", time_range)
    assert len(hourly) == hours * features
    assert sum(r["cost"] == "0" for r in hourly) > 0  # the day before the demo's first hour is empty
    tokens = run(reader, "llmcost-overview", "Tokens per hour: input, cached, output", time_range)
    assert len(tokens) == hours
    assert sum(r["cache_read"] for r in tokens) == raw(reader, "sum(cache_read_tokens) AS n", time_range)["n"]


def test_demo_request_detail_shares_sum_to_one(demo):
    reader, time_range = demo
    priced_retries = reader.query(
        "SELECT tenant_id, request_id FROM llmcost.llm_usage GROUP BY tenant_id, request_id "
        "HAVING max(attempt) > 1 AND sum(cost_usd) > 0 AND countIf(cost_usd IS NULL) = 0 LIMIT 5")
    assert priced_retries
    for request in priced_retries:
        summary, *attempts = run(reader, "llmcost-drilldown", "Request ${request_id}", time_range,
                                 request_id=request["request_id"], tenant=request["tenant_id"])
        assert summary["row_type"] == "request" and len(attempts) >= 2
        assert sum(a["cost_share"] for a in attempts) == pytest.approx(1.0)
        assert sum(Decimal(a["cost_usd"]) for a in attempts) == Decimal(summary["cost_usd"])
        assert any(a["status"] == "error" for a in attempts)


def test_demo_trace_view_shows_the_requests_spans(demo):
    reader, time_range = demo
    [retried] = reader.query("SELECT tenant_id, trace_id, count() AS calls, countIf(status = 'error') AS failed "
                             "FROM llmcost.llm_usage GROUP BY tenant_id, trace_id HAVING max(attempt) > 1 LIMIT 1")
    spans = run(reader, "llmcost-drilldown", "Trace ${trace_id}", time_range, trace_id=retried["trace_id"],
                tenant=retried["tenant_id"])
    [root] = [s for s in spans if s["parentSpanID"] == ""]
    calls = [s for s in spans if s["operationName"].startswith("chat ")]
    assert len(calls) == retried["calls"] and {s["parentSpanID"] for s in calls} == {root["spanID"]}
    assert sum(s["statusCode"] == 2 for s in calls) == retried["failed"]
    assert all(s["traceID"] == retried["trace_id"] and s["duration"] > 0 for s in spans)
    other = "globex" if retried["tenant_id"] != "globex" else "acme"
    assert run(reader, "llmcost-drilldown", "Trace ${trace_id}", time_range, trace_id=retried["trace_id"],
               tenant=other) == []  # another tenant's link opens nothing


def test_demo_model_performance(demo):
    reader, time_range = demo
    latency = run(reader, "llmcost-models", "Latency by model", time_range)
    assert len(latency) == raw(reader, "uniqExact(provider, request_model) AS n", time_range)["n"]
    assert all(0 < r["p50_ms"] <= r["p95_ms"] <= r["p99_ms"] for r in latency)
    streamed = {r["model"] for r in run(reader, "llmcost-models", "Time to first token by model", time_range)}
    assert streamed == {r["request_model"] for r in reader.query(
        "SELECT DISTINCT request_model FROM llmcost.llm_usage WHERE ttft_ms IS NOT NULL")}
    # a feature picked: the states come from usage_hourly (the latency rollups have no feature)
    [narrowest] = reader.query("SELECT feature, uniqExact(provider, request_model) AS models "
                               "FROM llmcost.llm_usage GROUP BY feature ORDER BY models, feature LIMIT 1")
    narrowed = run(reader, "llmcost-models", "Latency by model", time_range, feature=narrowest["feature"])
    assert len(narrowed) == narrowest["models"] < len(latency)
    errors = run(reader, "llmcost-models", "Errors by type", time_range)
    assert sum(r["failed_calls"] for r in errors) == raw(reader, "countIf(status = 'error') AS n", time_range)["n"]


@pytest.mark.parametrize("ends", ["mid-day", "in a day's last hour"])
def test_panels_read_by_day_what_they_read_by_hour(demo, ends):
    """Whole days from usage_daily, the other hours from usage_hourly: the same sums as hours alone, for a
    range that starts and ends mid-day, and for one that ends in the last hour of a day (that day is not
    whole: Top users had read it from users_daily and its partial hour from raw rows too)."""
    reader, (since, until) = demo
    window = (since + timedelta(hours=29, minutes=17), until - timedelta(hours=5, minutes=40))
    if ends != "mid-day":
        window = (window[0], (until - timedelta(days=1)).replace(hour=23, minute=20))  # 40 min or more before until
    sums = "sum(calls), sum(cost_usd), sum(retry_cost_usd), sum(input_tokens), round(sum(latency_ms_sum), 3)"
    by = {flag: reader.query(expand(f"WITH {facts(by_day=flag)}\nSELECT toDate(t) AS day, tenant_id, feature, "
                                    f"status, {sums} FROM facts GROUP BY ALL ORDER BY ALL",
                                    settings("llmcost-overview"), window)) for flag in (False, True)}
    assert len(by[True]) > 10 and by[True] == by[False]
    seconds = "ts >= toDateTime({}) AND ts <= toDateTime({})".format(
        *(int(t.timestamp()) for t in window))
    # facts and the users' table read the window to the second (partial hours from raw rows)
    direct = raw(reader, "sumIf(cost_usd, attempt > 1) AS retries, count() AS calls", window)
    [retries] = run(reader, "llmcost-overview", "Cost of retries", window)
    assert Decimal(retries["retry_cost"]) == Decimal(direct["retries"]) > 0
    users = reader.query(f"SELECT tenant_id, user_id, toString(sum(cost_usd)) AS cost, count() AS calls "
                         f"FROM llmcost.llm_usage WHERE {seconds} GROUP BY ALL "
                         "ORDER BY sum(cost_usd) DESC, calls DESC, tenant_id, user_id LIMIT 20")
    top = run(reader, "llmcost-overview", "Top users", window)
    assert [(r["tenant_id"], r["user_id"], Decimal(r["cost"]), r["calls"]) for r in top] == [
        (r["tenant_id"], r["user_id"], Decimal(r["cost"]), r["calls"]) for r in users]


def test_demo_tenants_against_budgets(demo):
    reader, time_range = demo
    rows = run(reader, "llmcost-tenants", "Month to date against budget", time_range)
    assert {r["tenant_id"]: r["budget"] for r in rows if r["budget"] is not None} == {
        "acme": "60", "globex": "40", "initech": "15"}  # alerts.yaml, which the builder writes in


# --- structure -------------------------------------------------------------------------------------------


def test_dashboards_are_what_the_builder_writes():
    written = render_dashboards(ROOT / "alerts.yaml")
    assert {name: json.loads(text) for name, text in written.items()} == DASHBOARDS


def test_uids_are_fixed_and_unique():
    assert sorted(board["uid"] for board in DASHBOARDS.values()) == [
        "llmcost-chargeback", "llmcost-drilldown", "llmcost-models", "llmcost-overview", "llmcost-tenants"]
    for board in DASHBOARDS.values():
        ids = [panel["id"] for panel in panels(board)]
        assert len(ids) == len(set(ids)), board["uid"]


@pytest.mark.parametrize("file", DASHBOARDS)
def test_panels_use_the_datasource_variable_and_declare_a_format(file):
    board = DASHBOARDS[file]
    datasource = {"type": PLUGIN, "uid": "${datasource}"}
    variable = variables_of(board)["datasource"]
    assert (variable["type"], variable["query"], variable["current"]["value"]) == (
        "datasource", PLUGIN, DATASOURCE_UID)
    names = [var["name"] for var in board["templating"]["list"] if var["type"] == "query"]
    more = ["project", "key"] if board["uid"] == "llmcost-chargeback" else []  # its own, beyond every board's
    assert names == ["tenant", "environment", "service", "feature", "provider", "model", "user", *more]
    for var in variables_of(board).values():
        if var["type"] == "query":
            assert var["datasource"] == datasource and var["query"]["editorType"] == "sql", var["name"]
            assert var["includeAll"] and not var.get("allValue"), "an allValue defeats $__conditionalAll"
    for panel in panels(board):
        assert panel["datasource"] == datasource, panel["title"]
        for target in panel["targets"]:
            assert target["datasource"] == datasource and target["editorType"] == "sql", panel["title"]
            expected = {"timeseries": 0, "traces": 3}.get(panel["type"], 1)  # time series, trace, table
            assert target["format"] == expected, panel["title"]
            sql = target["rawSql"]
            if panel["type"] == "timeseries":
                assert "AS time" in sql and "WITH FILL" in sql, panel["title"]  # empty buckets drawn as 0
            # Every panel follows the time picker, and every variable is applied.
            assert "$__timeFilter(" in sql or "$__toTime" in sql, panel["title"]
            if panel["type"] != "traces" and "${request_id" not in sql:
                for var in names:
                    assert f"${var})" in sql, (panel["title"], var)


def test_data_links_point_at_existing_dashboards_variables_and_columns(store):
    for board in DASHBOARDS.values():
        for panel, column, url in data_links(board):
            target = re.match(r"/d/([\w-]+)\?", url).group(1)
            assert target in {b["uid"] for b in DASHBOARDS.values()}, url
            assert "${__url_time_range}" in url and "var-datasource=${datasource}" in url, url
            assert set(re.findall(r"var-(\w+)=", url)) <= variables_of(by_uid(target)).keys(), url
            assert set(re.findall(r"\$\{(\w+):queryparam\}", url)) <= variables_of(board).keys(), url
            assert "var-tenant=" in url, f"{url}: a link carries the clicked row's tenant"
            # The linked column and the row fields the URL reads are columns of the panel's rows.
            [target_sql] = [t["rawSql"] for t in panel["targets"]]
            [row, *_] = store.query(expand(target_sql, settings(board["uid"], request_id="r1",
                                                                trace_id=RETRIED_TRACE, tenant="acme")))
            assert column in row, (panel["title"], column)
            assert set(re.findall(r"__data\.fields\.(\w+)", url)) <= row.keys(), (panel["title"], url)
            if "${__value.raw}" in url:
                assert "tenant_id" in row, (panel["title"], url)
    overview_links = [url for _, _, url in data_links(by_uid("llmcost-overview"))]
    assert any(url.startswith("/d/llmcost-drilldown?var-feature=${__value.raw}") for url in overview_links)


def test_provisioning_files():
    provisioning = GRAFANA / "provisioning"
    for file, protocol in (("clickhouse.yml", "native"), ("embedded.yml", "http")):  # provision one of them
        (source,) = yaml.safe_load((provisioning / "datasources" / file).read_text())["datasources"]
        assert (source["uid"], source["type"]) == (DATASOURCE_UID, PLUGIN)
        json_data = source["jsonData"]
        assert (json_data["protocol"], json_data["defaultDatabase"]) == (protocol, "llmcost")
        for value in (json_data["host"], json_data["port"], source["secureJsonData"]["password"]):
            assert re.fullmatch(r"\$\{\w+\}", value), value
    (provider,) = yaml.safe_load((provisioning / "dashboards/llmcost.yml").read_text())["providers"]
    assert provider["type"] == "file"
    assert provider["options"]["path"] == "/var/lib/grafana/dashboards/llmcost"


def test_cost_by_kind_splits_the_cost(store):
    [bucket] = [b for b in run(store, "llmcost-overview", "Cost by kind per hour") if b["time"].endswith("12:00:00")]
    assert (bucket["uncached_input"], bucket["cache_read"], bucket["output_without_reasoning"]) == (
        "0.005175", "0.00125", "0.0032")  # row 6 keeps BASE_ROW's parts: 0.000025 input, 0.00005 output


def test_requests_of_a_feature(store):
    rows = run(store, "llmcost-drilldown", "Requests of feature ${feature}", tenant="acme", feature="summarize")
    assert [(r["request_id"], r["attempts"], r["failed_calls"], r["last_status"], r["cost"]) for r in rows] == [
        ("r2", 1, 0, "ok", "0.00475"), ("r1", 2, 1, "ok", "0.0045")]
    assert (rows[1]["input_tokens"], rows[1]["slowest_call_ms"]) == (1000, 900)
    assert [r["request_id"] for r in run(store, "llmcost-drilldown", "Requests of feature ${feature}",
                                          model="gpt-4o-mini")] == ["r6", "r4"]  # the requests that used it


@pytest.mark.parametrize("chosen", [{}, {"model": "gpt-4o", "provider": "openai"}])
def test_session_costs_equal_the_raw_calls(store, chosen):
    """From the requests table, or from raw calls once a model or provider is picked: the same sums."""
    sessions = run(store, "llmcost-tenants", "Most expensive sessions", **chosen)
    where = " AND ".join(["session_id != ''"] + [f"{column} = '{chosen[name]}'" for name, column in
                                                   (("model", "request_model"), ("provider", "provider"))
                                                   if name in chosen])
    expected = store.query("SELECT tenant_id, session_id, sum(ifNull(cost_usd, 0)) AS cost, count() AS calls "
                           f"FROM llmcost.llm_usage WHERE ts >= '2026-11-01' AND ts <= '2026-11-02' AND {where} "
                           "GROUP BY tenant_id, session_id")
    assert sessions and {(r["tenant_id"], r["session_id"]): (Decimal(r["cost"]), r["calls"]) for r in sessions} == {
        (r["tenant_id"], r["session_id"]): (Decimal(r["cost"]), r["calls"]) for r in expected}


def test_overview_totals_equal_stats_for_a_range_off_the_hour(demo):
    """The overview reads the partial hours at a range's ends from raw rows, as `stats` does: the same totals
    for the same range (Grafana's end is inclusive, to the second; stats' is exclusive)."""
    from otel_llmcost.reports.usage_stats import StatsQuery, stats_rows

    reader, (start, end) = demo
    since, until = start + timedelta(days=2, minutes=17, seconds=23), end - timedelta(hours=30, minutes=41, seconds=7)
    [total] = stats_rows(reader, StatsQuery(None, {}), since, until + timedelta(microseconds=1))
    direct = raw(reader, "sum(cost_usd) AS cost, count() AS calls, uniqExact(tenant_id, request_id) AS requests",
                 (since, until))
    assert (total["cost_usd"], total["calls"], total["requests"]) == (direct["cost"], direct["calls"],
                                                                     direct["requests"])
    overview = "llmcost-overview"
    assert run(reader, overview, "Spend", (since, until)) == [{"cost": total["cost_usd"]}]
    assert run(reader, overview, "Calls", (since, until)) == [{"calls": total["calls"]}]
    [requests] = run(reader, overview, "Requests", (since, until))
    assert requests["requests"] == estimate(total["requests"])
    days = run(reader, overview, "Spend per day", (since, until))
    assert sum(Decimal(day["cost"]) for day in days) == Decimal(total["cost_usd"])
    # within one hour: raw rows only
    inside = (since + timedelta(days=1), since + timedelta(days=1, minutes=20))
    assert run(reader, overview, "Calls", inside) == [{"calls": raw(reader, "count() AS calls", inside)["calls"]}]


def test_chargeback_dashboard_equals_the_raw_rows_for_every_variable(demo):
    """Projects and keys from projects_hourly while nothing else is picked, raw rows once something is, and a
    range off the hour: each equal to the raw rows."""
    reader, (start, end) = demo
    since, until = start + timedelta(days=1, minutes=13), end - timedelta(hours=5, minutes=7, seconds=3)
    board = "llmcost-chargeback"
    for chosen, where in (({}, "1"), ({"project": "documents"}, "project = 'documents'"),
                          ({"tenant": "acme", "feature": "chat"}, "tenant_id = 'acme' AND feature = 'chat'"),
                          ({"key": ""}, "api_key_id = ''")):
        direct = reader.query(
            "SELECT project, toString(sum(cost_usd)) AS cost, count() AS calls FROM llmcost.llm_usage WHERE ts >= "
            f"toDateTime({int(since.timestamp())}) AND ts <= toDateTime({int(until.timestamp())}) AND {where} "
            "GROUP BY project")
        assert direct, chosen
        shown = run(reader, board, "Projects: list, effective and billed cost", (since, until), **chosen)
        totals: dict[str, list] = {}
        for row in shown:
            totals.setdefault(row["project"], [Decimal(0), 0])
            totals[row["project"]][0] += Decimal(row["effective_cost"])
            totals[row["project"]][1] += row["calls"]
        assert totals == {r["project"]: [Decimal(r["cost"]), r["calls"]] for r in direct}, chosen
    assert {r["project"] for r in direct} <= {"assistant", "documents", "search"}



def _raw_lines_billed(reader, since, until, where: str = "1") -> dict:
    """Per tenant (list, effective, billed) from the raw calls of the range, by the statement's lines (no terms:
    USD, billed = each line's effective cost rounded to the cent)."""
    from otel_llmcost.store.rollups import BILLED_MODEL, LIST_COST

    rows = reader.query(
        f"SELECT tenant_id, toString(sum(list)) AS l, toString(sum(effective)) AS e, "
        f"toString(sum(round(effective, 2))) AS b FROM (SELECT u.tenant_id AS tenant_id, sum({LIST_COST}) AS list,"
        f" sum(ifNull(u.cost_usd, 0)) AS effective FROM llmcost.llm_usage AS u WHERE u.ts >= "
        f"toDateTime({int(since.timestamp())}) AND u.ts <= toDateTime({int(until.timestamp())}) AND {where} "
        f"GROUP BY tenant_id, toDate(u.ts), u.project, u.feature, u.provider, {BILLED_MODEL}) GROUP BY tenant_id")
    return {r["tenant_id"]: tuple(Decimal(r[k]) for k in "leb") for r in rows}


def test_billed_cost_of_any_range_is_the_raw_lines(demo):
    """The statement's lines from statement_daily/_hourly: whole days, the end days either from their hours in
    range or as the day less its hours out of it, partial hours from raw rows; each equal to the raw calls' lines,
    rounded per line, for ranges off the hour on both sides of midday, within one day and within one hour."""
    reader, (start, _) = demo
    day = start.replace(hour=0, minute=0, second=0) + timedelta(days=2)
    ranges = [(day + timedelta(hours=5, minutes=17, seconds=5), day + timedelta(days=3, hours=20, minutes=41)),
              (day + timedelta(hours=20, minutes=17), day + timedelta(days=2, hours=4, minutes=41, seconds=9)),
              (day + timedelta(hours=3, minutes=10), day + timedelta(hours=19, minutes=20)),
              (day + timedelta(hours=13, minutes=5), day + timedelta(hours=13, minutes=50)),
              (day, day + timedelta(days=2, hours=23, minutes=59, seconds=59))]
    for since, until in ranges:
        expected = _raw_lines_billed(reader, since, until)
        assert expected, (since, until)
        for board, chosen, where in (("llmcost-tenants", {}, "1"), ("llmcost-chargeback", {}, "1"),
                                     ("llmcost-chargeback", {"project": "documents"}, "u.project = 'documents'"),
                                     ("llmcost-tenants", {"feature": "chat"}, "u.feature = 'chat'"),
                                     ("llmcost-tenants", {"service": "api"}, "u.service_name = 'api'")):
            shown = run(reader, board, "Tenants: list, effective and billed cost", (since, until), **chosen)
            assert {r["tenant_id"]: (Decimal(r["list_cost"]), Decimal(r["effective_cost"]), Decimal(r["billed"]))
                    for r in shown} == _raw_lines_billed(reader, since, until, where), (board, chosen, since, until)
            assert all(Decimal(r["billed_usd"]) == Decimal(r["effective_cost"]) for r in shown)

def test_a_tenant_session_reads_its_own_totals_never_the_every_tenant_rows(store):
    """The every-tenant rollups hold all tenants' totals under the tenant id '*all*': a tenant's row policy keeps
    none of their rows, so a tenant's dashboards over 'All' read its own rows from the per-tenant rollups (the
    probe that picks the every-tenant ones finds nothing), while an admin's read the totals."""
    from otel_llmcost.store.reader import ReadSession

    every_tenant = ("usage_all_hourly", "usage_all_daily", "errors_all_hourly", "errors_all_daily")
    assert all(store.query(f"SELECT count() AS n FROM llmcost.{table}")[0]["n"] > 0 for table in every_tenant)
    overview = queries(by_uid("llmcost-overview"))

    def panel(title: str) -> str:
        return expand(next(text for name, text in overview.items() if f"{title!r}" in name),
                      settings("llmcost-overview"))

    session = ReadSession(store._path, "llmcost", every_tenant=False)
    try:
        session.scope_to("acme")
        for table in every_tenant:
            assert session.run(f"SELECT count() FROM llmcost.{table}") == b"0\n", table
        assert session.run(panel("Spend")) == b"0.00925\n"
        assert session.run(panel("Calls")) == b"4\n"
        assert session.run(panel("Requests")) == b"3\n"
        assert session.run(panel("Top tenants")).decode().split("\t")[0] == "acme"
        assert session.run(panel("Top models")).decode().count("\n") == 2  # acme's two models, nobody else's
    finally:
        session.close()
    assert store.query(panel("Spend")) == [{"cost": TOTAL}]
