"""The `why` and `request` reports as sequences of queries, so the CLI (a store) and the query listener's
named endpoint (awaited queries) run the same steps: each report is a generator that yields (sql, params)
and is sent back the rows; its return value is the report, ready for JSON (money as decimal strings).
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from otel_llmcost.reports import why_sql
from otel_llmcost.reports.queries import time_range
from otel_llmcost.reports.usage_stats import range_params
from otel_llmcost.reports.why import Range, Segment, common_segments, decompose, total_cost

Query = tuple[str, dict[str, Any]]
Report = Generator[Query, list[dict], dict]
TOP_REQUESTS = 5


def run(query: Callable[[str, dict[str, Any]], list[dict]], report: Report) -> dict:
    """Drive a report with a synchronous query function (store.query)."""
    try:
        step = next(report)
        while True:
            step = report.send(query(*step))
    except StopIteration as done:
        return done.value


def baseline_of(since: datetime, until: datetime, baseline_since: datetime | None) -> tuple[datetime, datetime, str]:
    """The baseline range (as long as the range) and how it was chosen, in words."""
    length = until - since
    if baseline_since is None:
        return since - length, since, f"the previous {_duration(length)}"
    return baseline_since, baseline_since + length, f"{_duration(length)} from --baseline"


def why(database: str, scope: dict[str, str], since: datetime, until: datetime,
        baseline: tuple[datetime, datetime, str], top: int = TOP_REQUESTS) -> Report:
    """The change of cost from `baseline` (since, until, how it was chosen) to [since, until), by cause, and the
    range's most expensive requests with their calls."""
    ranges = {"baseline": baseline[:2], "current": (since, until)}
    scoped = why_sql.scope_params(scope)
    segments: dict[str, dict] = {}
    for name, (start, end) in ranges.items():
        rows = yield why_sql.segments(database, scope), range_params(start, end) | scoped
        segments[name] = {segment.key: segment for segment in map(Segment.of_row, rows) if segment.counts["calls"]}
    common = common_segments(segments["baseline"], segments["current"])
    requests: dict[str, dict[str, int]] = {}
    for name, (start, end) in ranges.items():
        [row] = yield (why_sql.requests_in(database, scope),
                       range_params(start, end) | scoped | why_sql.segment_params(common))
        requests[name] = {"common": int(row["in_segments"]), "all": int(row["requests"])}
    causes = decompose(Range(segments["baseline"], requests["baseline"]["common"]),
                       Range(segments["current"], requests["current"]["common"]))
    rows = yield why_sql.top_requests(database, scope), range_params(since, until) | scoped | {"limit": top}
    calls = []
    if rows:
        calls = yield why_sql.calls_of_requests(database), time_range(since, until) | {
            "tenants": [row["tenant_id"] for row in rows], "request_ids": [row["request_id"] for row in rows]}
    before, after = total_cost(segments["baseline"]), total_cost(segments["current"])
    return {
        "scope": scope,
        "range": {"since": since.isoformat(), "until": until.isoformat()},
        "baseline": {"since": baseline[0].isoformat(), "until": baseline[1].isoformat(), "chosen": baseline[2]},
        "baseline_cost_usd": _text(before), "cost_usd": _text(after), "change_usd": _text(after - before),
        "figures": {name: _figures(segments[name], requests[name]["all"]) for name in ranges},
        "causes": sorted(({"cause": cause.cause, "label": cause.label, "change_usd": _text(cause.change_usd),
                           "top_segments": [{"feature": key[0], "provider": key[1], "model": key[2],
                                             "change_usd": _text(usd)} for key, usd in cause.top()]}
                          for cause in causes), key=lambda cause: -abs(Decimal(cause["change_usd"]))),
        "top_requests": [_with_attempts(row, calls) for row in rows],
    }


def request(database: str, request_id: str, tenant: str | None) -> Report:
    """One request's summary and its calls; {"tenants": [...]} when the id is in several tenants' data."""
    params = {"request_id": request_id} | ({"tenant": tenant} if tenant else {})
    found = yield why_sql.find_request(database, tenant is not None), params
    if len(found) != 1:
        return {"request_id": request_id, "tenants": [row["tenant_id"] for row in found]}
    [where] = found
    calls = yield why_sql.request_calls(database), {"request_id": request_id, "tenant": where["tenant_id"],
                                                    "first_ts": where["first_ts"], "last_ts": where["last_ts"]}
    return _with_attempts({"tenant_id": where["tenant_id"], "request_id": request_id}, calls) | _summary(calls)


def _figures(segments: dict, requests: int) -> dict:
    sums = {name: sum(segment.counts[name] for segment in segments.values())
            for name in ("calls", "retry_calls", "failed_calls", "input_tokens", "cache_read_tokens", "output_tokens")}
    cost = total_cost(segments)
    return {"cost_usd": _text(cost), "requests": requests, **sums,
            "cost_per_request_usd": _text(_quantize(cost / requests)) if requests else None}


def _with_attempts(row: dict, calls: list[dict]) -> dict:
    mine = [call for call in calls if (call["tenant_id"], call["request_id"]) == (row["tenant_id"], row["request_id"])]
    total = sum((Decimal(call["cost"]) for call in mine if call["cost"] is not None), Decimal(0))
    attempts = [{name: value for name, value in call.items() if name not in ("tenant_id", "request_id")}
                | {"cost_share_pct": str((Decimal(call["cost"]) * 100 / total).quantize(Decimal("0.1")))
                   if total and call["cost"] is not None else None}
                for call in mine]
    return row | {"attempts": attempts}


def _summary(calls: list[dict]) -> dict:
    if not calls:
        return {}
    first = calls[0]
    costs = [Decimal(call["cost"]) for call in calls if call["cost"] is not None]
    return {
        **{name: first[name] for name in ("feature", "environment", "service_name", "user_id", "session_id")},
        "started": first["started"], "ended": calls[-1]["started"], "calls": len(calls),
        "attempts_max": max(call["attempt"] for call in calls),
        "failed_calls": sum(call["status"] == "error" for call in calls),
        "cost_usd": _text(sum(costs, Decimal(0))) if costs else None,
        "unpriced_calls": len(calls) - len(costs),
        "latency_ms_sum": sum(call["latency_ms"] for call in calls),
        "models": sorted({call["response_model"] or call["request_model"] for call in calls}),
        "trace_ids": sorted({call["trace_id"] for call in calls}),
    }


def _text(amount: Decimal) -> str:
    return format(amount, "f")  # never "0E-12"


def _quantize(amount: Decimal) -> Decimal:
    return amount.quantize(Decimal("1e-12"))


def _duration(length: timedelta) -> str:
    minutes = round(length.total_seconds() / 60)
    days, rest = divmod(minutes, 1440)
    hours, minutes = divmod(rest, 60)
    return " ".join(f"{n}{unit}" for n, unit in ((days, "d"), (hours, "h"), (minutes, "m")) if n) or "0m"
