"""Grafana dashboards: every query, macros expanded as by the plugin, runs on real chDB with known results.

`expand()` emulates the ClickHouse data source plugin (grafana-clickhouse-datasource v4): first the frontend's
$__conditionalAll, then Grafana's variable interpolation, then the backend's time macros.
"""

from __future__ import annotations

import dataclasses
import json
import re
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest
import yaml

from otel_llmcost.store.chdb_store import ChdbStore
from test_store import BASE_ROW

GRAFANA = Path(__file__).resolve().parent.parent / "grafana"
DASHBOARDS = {path.name: json.loads(path.read_text()) for path in sorted(GRAFANA.glob("dashboards/*.json"))}
PLUGIN = "grafana-clickhouse-datasource"
DATASOURCE_UID = "llmcost-clickhouse"
ALL = "$__all"

# --- the plugin, emulated --------------------------------------------------------------------------------

FROM = datetime(2026, 11, 1, tzinfo=timezone.utc)
TO = datetime(2026, 11, 2, tzinfo=timezone.utc)
INTERVAL_S = 3600


def expand(sql: str, variables: dict[str, str | list[str]]) -> str:
    """The SQL the server receives for `sql` with these variable values (lists for multi-value variables)."""
    sql = _conditional_all(sql, variables)
    sql = _interpolate(sql, variables)
    return _time_macros(sql)


def _conditional_all(sql: str, variables: dict) -> str:
    """$__conditionalAll(cond, $var) is `cond`, or 1=1 when $var is All or empty.

    As CHDatasource.applyConditionalAll: innermost-last first, arguments split at top-level commas.
    """
    macro = "$__conditionalAll("
    while (start := sql.rfind(macro)) != -1:
        depth, args, arg_start = 0, [], start + len(macro)
        for i in range(start + len(macro) - 1, len(sql)):
            depth += {"(": 1, ")": -1}.get(sql[i], 0)
            if (sql[i] == "," and depth == 1) or depth == 0:
                args.append(sql[arg_start:i])
                arg_start = i + 1
            if depth == 0:
                break
        condition, var_ref = args
        value = variables[re.fullmatch(r"\$\{?(\w+)\}?", var_ref.strip()).group(1)]
        current = ",".join(value) if isinstance(value, list) else value  # JS Array.toString()
        phrase = "1=1" if current in ("", ALL) else condition
        sql = sql.replace(f"{macro}{condition},{var_ref})", phrase, 1)
    return sql


def _interpolate(sql: str, variables: dict) -> str:
    """$var, ${var} and ${var:singlequote}, as Grafana's templateSrv and the plugin's format() write them."""

    def replace(match: re.Match) -> str:
        name, fmt = match.group(1) or match.group(3), match.group(2)
        if name.startswith("__"):
            return match.group(0)  # a backend macro
        value = variables[name]
        values = value if isinstance(value, list) else [value]
        assert ALL not in values, f"${name} is All outside $__conditionalAll: Grafana would inline all values"
        if fmt == "singlequote":  # Grafana: each value in '...', with ' escaped as \'
            return ",".join("'" + v.replace("'", "\\'") + "'" for v in values)
        assert fmt is None, f"format {fmt!r} is not emulated"
        return "'" + "','".join(value) + "'" if isinstance(value, list) else value  # the plugin's format()

    return re.sub(r"\$\{(\w+)(?::(\w+))?\}|\$(\w+)", replace, sql)


def _time_macros(sql: str) -> str:
    """The backend macros (pkg/macros/macros.go) for the range FROM..TO and the interval INTERVAL_S."""
    start, end = f"toDateTime({int(FROM.timestamp())})", f"toDateTime({int(TO.timestamp())})"
    bucket = f"INTERVAL {max(INTERVAL_S, 1)} second"
    sql = re.sub(r"\$__timeFilter\(([^()]*)\)", lambda m: f"{m[1]} >= {start} AND {m[1]} <= {end}", sql)
    sql = re.sub(r"\$__timeInterval\(([^()]*)\)",
                 lambda m: f"toStartOfInterval(toDateTime({m[1]}), {bucket})", sql)
    sql = re.sub(r"\$__interval_s\b", str(max(INTERVAL_S, 1)), sql)
    sql = re.sub(r"\$__fromTime\b", start, sql)
    sql = re.sub(r"\$__toTime\b", end, sql)
    assert "$" not in sql, f"unexpanded macro or variable in: {sql}"
    return sql


# --- the dashboards as data ------------------------------------------------------------------------------


def panels(dashboard: dict) -> list[dict]:
    found = []
    for panel in dashboard["panels"]:
        found.extend(panel.get("panels", []) if panel["type"] == "row" else [panel])
    return found


def variables_of(dashboard: dict) -> dict[str, dict]:
    return {var["name"]: var for var in dashboard["templating"]["list"]}


def queries(dashboard: dict) -> dict[str, str]:
    """Every SQL text of the dashboard, query variables and panel targets, by a readable name."""
    found = {f"var {name}": var["query"]["rawSql"]
             for name, var in variables_of(dashboard).items() if var["type"] == "query"}
    for panel in panels(dashboard):
        for target in panel["targets"]:
            found[f"panel {panel['title']!r} {target['refId']}"] = target["rawSql"]
    return found


def by_uid(uid: str) -> dict:
    return next(board for board in DASHBOARDS.values() if board["uid"] == uid)


def settings(uid: str, **chosen: str) -> dict[str, str | list[str]]:
    """Variable values: All for the query variables unless chosen, as lists for multi-value variables."""
    values = {}
    for name, var in variables_of(by_uid(uid)).items():
        if var["type"] == "query":
            value = chosen.get(name, ALL)
            values[name] = [value] if var["multi"] else value
        elif var["type"] == "textbox":
            values[name] = chosen.get(name, "")
    return values


def data_links(dashboard: dict) -> list[str]:
    urls = []
    for panel in panels(dashboard):
        config = panel["fieldConfig"]
        urls.extend(link["url"] for link in config["defaults"].get("links", []))
        for override in config["overrides"]:
            for prop in override["properties"]:
                if prop["id"] == "links":
                    urls.extend(link["url"] for link in prop["value"])
    return urls


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
          output_cost_usd=Decimal("0.002"), cost_usd=Decimal("0.0045"), latency_ms=900.0, **PRICED),
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
    # globex/chat r6: token counts that cannot be right are not priced either: NULL cost, counted as unpriced.
    usage(7, 50, tenant_id="globex", feature="chat", request_id="r6", request_model="gpt-4o-mini",
          response_model="gpt-4o-mini", cost_status="invalid_usage",
          cost_note="reasoning_tokens > output_tokens", latency_ms=50.0, **NO_COST),
    # A month before the time range: no panel may count it.
    usage(8, -31 * 24 * 60, tenant_id="acme", feature="summarize", request_id="old", cost_usd=Decimal("1"),
          **PRICED),
]
TOTAL = "0.009560000001"  # rows 1-6
SUMMARIZE_TOTAL = "0.009260000001"  # rows 1, 2, 3 and 6


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    # chDB opens one data path per process: one store for the whole module.
    opened = ChdbStore(str(tmp_path_factory.mktemp("grafana") / "chdb"), "llmcost")
    opened.ensure_schema()
    opened.insert_usage(ROWS)
    yield opened
    opened.close()


def run(store, uid: str, title: str, **chosen: str) -> list[dict]:
    """Rows of a panel (by title) or a query variable ('var <name>') of dashboard `uid`."""
    sql = next(text for name, text in queries(by_uid(uid)).items() if name == title or f"{title!r}" in name)
    return store.query(expand(sql, settings(uid, **chosen)))


# --- every query runs ------------------------------------------------------------------------------------

CASES = [(board["uid"], name) for board in DASHBOARDS.values() for name in queries(board)]
SCENARIOS = {
    "all": {"request_id": "r1", "trace_id": RETRIED_TRACE},
    "concrete": {"tenant": "acme", "feature": "summarize", "model": "gpt-4o", "request_id": "r1",
                 "trace_id": RETRIED_TRACE},
}


@pytest.mark.parametrize("scenario", SCENARIOS)
@pytest.mark.parametrize(("uid", "name"), CASES, ids=[f"{uid}:{name}" for uid, name in CASES])
def test_every_query_runs_and_returns_rows(store, uid, name, scenario):
    sql = expand(queries(by_uid(uid))[name], settings(uid, **SCENARIOS[scenario]))
    assert store.query(sql), f"no rows from {name}:\n{sql}"


def test_expansion_is_the_plugins():
    sql = "WHERE $__timeFilter(ts) AND $__conditionalAll(t IN (${tenant:singlequote}), $tenant) AND x=$v"
    assert expand(sql, {"tenant": [ALL], "v": "1"}) == (
        "WHERE ts >= toDateTime(1793491200) AND ts <= toDateTime(1793577600) AND 1=1 AND x=1")
    assert expand("$__conditionalAll(t IN (${tenant:singlequote}), ${tenant})", {"tenant": ["a", "o'b"]}) == (
        "t IN ('a','o\\'b')")
    assert expand("$__conditionalAll(f = ${f:singlequote}, $f)", {"f": ""}) == "1=1"
    assert expand("$__timeInterval(ts) AS time", {}) == (
        "toStartOfInterval(toDateTime(ts), INTERVAL 3600 second) AS time")


# --- known results ---------------------------------------------------------------------------------------


def test_overview_total_cost_is_the_exact_decimal_sum(store):
    assert run(store, "llmcost-overview", "Total cost") == [{"cost": TOTAL}]
    assert run(store, "llmcost-overview", "Total cost", feature="summarize") == [{"cost": SUMMARIZE_TOTAL}]
    assert run(store, "llmcost-overview", "Total cost", tenant="acme", feature="summarize") == [
        {"cost": "0.00925"}]


def test_calls_without_a_cost_are_counted_next_to_the_costs(store):
    assert run(store, "llmcost-overview", "Unpriced calls") == [{"unpriced_calls": 2}]
    assert run(store, "llmcost-overview", "Unpriced calls", feature="summarize") == [{"unpriced_calls": 0}]
    by_model = run(store, "llmcost-overview", "Cost by model")
    mystery = next(row for row in by_model if row["model"] == "mystery-1")
    assert (mystery["cost"], mystery["unpriced_calls"], mystery["price_note"]) == (
        None, 1, "no price for mystery-1")


def test_feature_filter_narrows_the_features_table(store):
    everything = run(store, "llmcost-overview", "Features")
    assert [(row["feature"], row["cost"], row["unpriced_calls"], row["calls"]) for row in everything] == [
        ("summarize", SUMMARIZE_TOTAL, 0, 4), ("chat", "0.0003", 2, 3)]
    summarize = everything[0]
    assert (summarize["requests"], summarize["failed_calls"], summarize["retries"]) == (3, 1, 1)
    assert [row["feature"] for row in run(store, "llmcost-overview", "Features", feature="chat")] == ["chat"]


def test_top_tenants_and_failures(store):
    tenants = run(store, "llmcost-overview", "Top tenants by cost")
    assert [(row["tenant_id"], row["cost"], row["unpriced_calls"]) for row in tenants] == [
        ("acme", "0.00925", 1), ("globex", "0.000310000001", 1)]
    failures = run(store, "llmcost-overview", "Failures and retries by feature")
    assert failures[0] == {"feature": "summarize", "failed_calls": 1, "retries": 1, "failed_requests": 0}
    assert run(store, "llmcost-overview", "Failure rate") == [{"failure_rate": 1 / 7}]


def test_time_series_are_bucketed_by_the_interval(store):
    assert run(store, "llmcost-overview", "Cost over time by feature") == [
        {"time": "2026-11-01 12:00:00", "feature": "chat", "cost": "0.0003"},
        {"time": "2026-11-01 12:00:00", "feature": "summarize", "cost": SUMMARIZE_TOTAL}]
    assert run(store, "llmcost-overview", "Tokens by kind over time") == [
        {"time": "2026-11-01 12:00:00", "uncached_input": 3512, "cache_read": 1000, "cache_write": 1,
         "output_without_reasoning": 606, "reasoning": 0}]


def test_variables_list_the_values_in_range(store):
    assert run(store, "llmcost-overview", "var tenant") == [{"tenant_id": "acme"}, {"tenant_id": "globex"}]
    assert run(store, "llmcost-overview", "var feature", tenant="globex") == [
        {"feature": "chat"}, {"feature": "summarize"}]
    assert run(store, "llmcost-drilldown", "var model", feature="chat") == [
        {"request_model": "gpt-4o-mini"}, {"request_model": "mystery-1"}]


def test_drilldown_requests_of_a_feature(store):
    rows = run(store, "llmcost-drilldown", "Requests of feature ${feature}", tenant="acme",
               feature="summarize")
    assert [(r["request_id"], r["attempts"], r["failures"], r["last_status"], r["cost"]) for r in rows] == [
        ("r2", 1, 0, "ok", "0.00475"), ("r1", 2, 1, "ok", "0.0045")]
    assert (rows[1]["input"], rows[1]["llm_time_ms"]) == (1000, 1020)


def test_drilldown_attempts_of_the_retried_request_and_its_trace(store):
    rows = run(store, "llmcost-drilldown", "Attempts of request ${request_id}", request_id="r1")
    assert [(r["attempt"], r["status"], r["error_type"], r["cost_usd"]) for r in rows] == [
        (1, "error", "RateLimitError", "0"), (2, "ok", "", "0.0045")]
    assert {r["trace_id"] for r in rows} == {RETRIED_TRACE}
    assert run(store, "llmcost-drilldown", "Attempts of request ${request_id}", request_id="") == []
    trace = run(store, "llmcost-drilldown", "LLM calls of trace ${trace_id}", trace_id=RETRIED_TRACE)
    assert [(r["request_id"], r["attempt"]) for r in trace] == [("r1", 1), ("r1", 2)]


# --- structure -------------------------------------------------------------------------------------------


def test_uids_are_fixed_and_unique():
    assert sorted(board["uid"] for board in DASHBOARDS.values()) == ["llmcost-drilldown", "llmcost-overview"]
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
    for var in variables_of(board).values():
        if var["type"] == "query":
            assert var["datasource"] == datasource and var["query"]["editorType"] == "sql", var["name"]
            assert var["includeAll"] and not var.get("allValue"), "an allValue defeats $__conditionalAll"
    for panel in panels(board):
        assert panel["datasource"] == datasource, panel["title"]
        for target in panel["targets"]:
            assert target["datasource"] == datasource and target["editorType"] == "sql", panel["title"]
            expected = 0 if panel["type"] == "timeseries" else 1  # 0 = time series, 1 = table
            assert target["format"] == expected, panel["title"]
            if expected == 0:
                assert "$__timeInterval(ts) AS time" in target["rawSql"], panel["title"]


def test_data_links_point_at_existing_dashboards_and_variables():
    links = {board["uid"]: data_links(board) for board in DASHBOARDS.values()}
    for source_uid, urls in links.items():
        for url in urls:
            target_uid = re.match(r"/d/([\w-]+)\?", url).group(1)
            assert target_uid in links, url
            assert "${__value.raw" in url and "${__url_time_range}" in url, url
            target_vars, source_vars = variables_of(by_uid(target_uid)), variables_of(by_uid(source_uid))
            assert set(re.findall(r"var-(\w+)=", url)) <= target_vars.keys(), url
            passed_on = set(re.findall(r"\$\{(\w+):queryparam\}", url))
            assert passed_on <= target_vars.keys() & source_vars.keys(), url
    to_feature, to_request = "/d/llmcost-drilldown?var-feature=", "/d/llmcost-drilldown?var-request_id="
    overview, drilldown = links["llmcost-overview"], links["llmcost-drilldown"]
    assert any(url.startswith(to_feature) and "${tenant:queryparam}" in url for url in overview)
    assert any(url.startswith(to_request) and "${feature:queryparam}" in url for url in drilldown)


def test_provisioning_files():
    provisioning = GRAFANA / "provisioning"
    (source,) = yaml.safe_load((provisioning / "datasources/clickhouse.yml").read_text())["datasources"]
    assert (source["uid"], source["type"]) == (DATASOURCE_UID, PLUGIN)
    json_data = source["jsonData"]
    assert (json_data["protocol"], json_data["defaultDatabase"]) == ("native", "llmcost")
    password = source["secureJsonData"]["password"]
    for value in (json_data["host"], json_data["port"], json_data["username"], password):
        assert re.fullmatch(r"\$\{\w+\}", value), value
    (provider,) = yaml.safe_load((provisioning / "dashboards/llmcost.yml").read_text())["providers"]
    assert provider["type"] == "file"
    assert provider["options"]["path"] == "/var/lib/grafana/dashboards/llmcost"


def test_cost_by_kind_splits_the_cost(store):
    [bucket] = run(store, "llmcost-overview", "Cost by kind over time")  # rows 1-6, one hour
    assert (bucket["uncached_input"], bucket["cache_read"], bucket["output_without_reasoning"]) == (
        "0.005175", "0.00125", "0.0032")  # row 6 keeps BASE_ROW's parts: 0.000025 input, 0.00005 output
