"""Named endpoints over the same guarded, tenant-scoped path as the SQL interface (docs/openapi.yaml).

GET /api/v1/usage?by=model|provider|tenant|feature|user|day&since=&until=&tenant=&feature=&provider=&model=&user=
GET /api/v1/performance?by=model|provider&since=&until=&...
GET /api/v1/why?since=&until=&baseline=&tenant=&feature=&model=&provider=&user=&top=   (reports/why.py: by cause)
GET /api/v1/request?id=&tenant=                                        (one request and its calls)
JSON answers; costs are decimal strings. The hourly rollup (made by migration 003, which the receiver runs at
start) answers when the range is on whole hours and the grouping is one of its dimensions; otherwise the raw
table does.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone

from aiohttp import web

from otel_llmcost.errors import ConfigError
from otel_llmcost.query import endpoint_sql
from otel_llmcost.query.errors import QueryError
from otel_llmcost.query.executor import QueryRequest
from otel_llmcost.reports import why_report
from otel_llmcost.reports.queries import time_range
from otel_llmcost.reports.timerange import parse_time, time_window
from otel_llmcost.reports.why_sql import SCOPES
from otel_llmcost.store.chdb_store import param_text

_BAD_ARGUMENTS = 36
# Decimals as strings (money stays exact); 64-bit counts as numbers.
_JSON_SETTINGS = {"output_format_json_quote_decimals": "1", "output_format_json_quote_64bit_integers": "0"}
_QUANTILES = ("p50", "p95", "p99")


def add_routes(app: web.Application, listener) -> None:
    async def usage(request: web.Request) -> web.Response:
        return await _answer(listener, request, endpoint_sql.GROUPS, endpoint_sql.usage, dict)

    async def performance(request: web.Request) -> web.Response:
        return await _answer(listener, request, endpoint_sql.PERFORMANCE_GROUPS, endpoint_sql.performance,
                             _performance_row)

    async def why(request: web.Request) -> web.Response:
        params = dict(request.query)

        def report(now: datetime):
            since = _time(params, "since", now) or now.replace(hour=0, minute=0, second=0, microsecond=0)
            until = _time(params, "until", now) or now
            try:
                top = int(params.get("top", why_report.TOP_REQUESTS))
            except ValueError:
                raise QueryError(_BAD_ARGUMENTS, f"top must be a whole number, got {params['top']!r}") from None
            baseline = why_report.baseline_of(since, until, _time(params, "baseline", now))
            scope = {name: params[name] for name in SCOPES if params.get(name)}
            return why_report.why(listener.database, scope, since, until, baseline, max(top, 0))

        return await _report(listener, request, report)

    async def one_request(request: web.Request) -> web.Response:
        params = dict(request.query)

        def report(now: datetime):
            if not params.get("id"):
                raise QueryError(_BAD_ARGUMENTS, "id= (the request id) is required")
            return why_report.request(listener.database, params["id"], params.get("tenant") or None)

        return await _report(listener, request, report)

    app.router.add_get("/api/v1/usage", usage)
    app.router.add_get("/api/v1/performance", performance)
    app.router.add_get("/api/v1/why", why)
    app.router.add_get("/api/v1/request", one_request)


async def _report(listener, request: web.Request, make_report) -> web.Response:
    """Run a report of reports/why_report.py query by query, each through the guarded, tenant-scoped path."""
    try:
        who = listener.admit(request)
        report = make_report(datetime.now(timezone.utc))
        try:
            sql, values = next(report)
            while True:
                result = await listener.run(QueryRequest(
                    sql, who, "JSONEachRow", params={name: param_text(value) for name, value in values.items()},
                    settings=_JSON_SETTINGS))
                sql, values = report.send([json.loads(line) for line in result.body.decode().splitlines() if line])
        except StopIteration as done:
            return web.json_response(done.value)
    except QueryError as exc:
        return web.json_response({"error": exc.message, "code": exc.code, "name": exc.name}, status=exc.status)


def _time(params: dict[str, str], name: str, now: datetime) -> datetime | None:
    if not params.get(name):
        return None
    try:
        return parse_time(params[name], now, name)
    except ConfigError as exc:
        raise QueryError(_BAD_ARGUMENTS, str(exc)) from None


async def _answer(listener, request: web.Request, groups, render, shape) -> web.Response:
    params = dict(request.query)
    try:
        who = listener.admit(request)
        by = params.get("by", "model")
        if by not in groups:
            raise QueryError(_BAD_ARGUMENTS, f"by must be one of {', '.join(groups)}, got {by!r}")
        try:
            since, until = time_window(params.get("since", "30d"), params.get("until"), datetime.now(timezone.utc),
                                       ("since", "until"))
        except ConfigError as exc:
            raise QueryError(_BAD_ARGUMENTS, str(exc)) from None
        filters = [name for name in endpoint_sql.FILTERS if params.get(name)]
        source = _source(by, filters, since, until)
        values = {**time_range(since, until), **{name: params[name] for name in filters}}
        result = await listener.run(QueryRequest(
            render(listener.database, source, by, filters), who, "JSONEachRow", params=values,
            settings=_JSON_SETTINGS))
    except QueryError as exc:
        return web.json_response({"error": exc.message, "code": exc.code, "name": exc.name}, status=exc.status)
    rows = [shape(json.loads(line)) for line in result.body.decode().splitlines() if line]
    return web.json_response({"by": by, "since": since.isoformat(), "until": until.isoformat(), "source": source,
                              "rows": rows})


def _source(by: str, filters: list[str], since, until) -> str:
    whole_hours = all(moment.minute == moment.second == moment.microsecond == 0 for moment in (since, until))
    if not whole_hours or endpoint_sql.GROUPS[by][1] is None or "user" in filters:
        return endpoint_sql.RAW
    return endpoint_sql.HOURLY


def _performance_row(row: dict) -> dict:
    calls, latency_sum, failed, output_tokens = (row[name] for name in ("calls", "latency_ms_sum", "failed_calls",
                                                                        "output_tokens"))
    return {
        "group": row["group"], "calls": calls,
        "success_rate": round(1 - failed / calls, 6) if calls else None,
        "latency_ms": dict(zip(_QUANTILES, row["latency_quantiles"])),
        "ttft_ms": dict(zip(_QUANTILES, row["ttft_quantiles"])) if row["ttft_calls"] else None,
        "output_tokens_per_second": round(output_tokens / (latency_sum / 1000), 3) if latency_sum else None,
    }
