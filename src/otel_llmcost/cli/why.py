"""`otel-llmcost why` (what made the cost change, by cause) and `otel-llmcost request ID` (one request's calls)."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime, timezone
from decimal import Decimal

from otel_llmcost.cli.tables import money, print_table
from otel_llmcost.config import Settings
from otel_llmcost.kinds import COUNTS
from otel_llmcost.reports import why_report
from otel_llmcost.reports.timerange import parse_time
from otel_llmcost.reports.why_sql import SCOPES
from otel_llmcost.store import open_reader


def add_commands(commands, store_flags) -> None:
    why = commands.add_parser("why", help="why the cost changed: today (or a range) against the period before, "
                              "by cause, and the most expensive requests")
    store_flags(why)
    for name in SCOPES:
        why.add_argument(f"--{name}", metavar=name.upper(), help=f"only calls of this {name}")
    why.add_argument("--since", help="start: ISO time or age like 24h, 7d (default: today, 00:00 UTC)")
    why.add_argument("--until", help="end (exclusive): ISO time or age (default now)")
    why.add_argument("--baseline", metavar="SINCE", help="start of the baseline, as long as the range "
                     "(default: the period of the same length just before the range)")
    why.add_argument("--top", type=int, default=why_report.TOP_REQUESTS, help="requests to list (default 5)")
    why.add_argument("--json", action="store_true", help="one JSON object instead of text")
    why.add_argument("--wide", action="store_true", help="every column, however wide the tables")
    why.set_defaults(run=run_why)

    request = commands.add_parser("request", help="one request: its summary and its calls (attempts)")
    store_flags(request)
    request.add_argument("request_id", metavar="ID", help="the request id (request.id, or the trace id)")
    request.add_argument("--tenant", help="the tenant, when the id is used by several")
    request.add_argument("--json", action="store_true", help="one JSON object instead of text")
    request.add_argument("--wide", action="store_true", help="every column, however wide the table")
    request.set_defaults(run=run_request)


def run_why(args: argparse.Namespace, settings: Settings) -> int:
    now = datetime.now(timezone.utc)
    since = parse_time(args.since, now, "--since") if args.since else now.replace(hour=0, minute=0, second=0,
                                                                                   microsecond=0)
    until = parse_time(args.until, now, "--until") if args.until else now
    baseline = why_report.baseline_of(since, until, parse_time(args.baseline, now, "--baseline")
                                      if args.baseline else None)
    scope = {name: value for name in SCOPES if (value := getattr(args, name))}
    report = _read(settings, why_report.why(settings.store.database_name, scope, since, until, baseline,
                                            max(args.top, 0)))
    if args.json:
        print(json.dumps(report, indent=1))
    elif not report["figures"]["current"]["calls"] and not report["figures"]["baseline"]["calls"]:
        print(f"no LLM calls from {_when(report['baseline']['since'])} to {_when(report['range']['until'])}",
              file=sys.stderr)
    else:
        _print_why(report, args.wide)
    return 0


def run_request(args: argparse.Namespace, settings: Settings) -> int:
    report = _read(settings, why_report.request(settings.store.database_name, args.request_id, args.tenant))
    if args.json:
        print(json.dumps(report, indent=1))
        return 0 if "attempts" in report else 1
    if "attempts" not in report:
        tenants = report["tenants"]
        print(f"request {args.request_id!r}: " + ("no such request" + (f" in tenant {args.tenant!r}"
                                                                        if args.tenant else "")
                                                   if not tenants else f"in {len(tenants)} tenants ("
                                                   f"{', '.join(tenants)}): choose one with --tenant"))
        return 1
    print(f"request {report['request_id']} of tenant {report['tenant_id']}: {report['calls']} calls, "
          f"{report['failed_calls']} failed, cost {money(report['cost_usd'], 6)}"
          + (f" ({report['unpriced_calls']} unpriced)" if report["unpriced_calls"] else ""))
    print(f"  {report['started'][:19]} to {report['ended'][:19]} UTC; feature {report['feature'] or '-'}, user "
          f"{report['user_id'] or '-'}, session {report['session_id'] or '-'}, {report['service_name']} "
          f"({report['environment'] or '-'})")
    print(f"  models: {', '.join(report['models'])}; traces: {', '.join(report['trace_ids'])}\n")
    print_table(_attempt_rows(report["attempts"]), "attempt", "no calls", wide=args.wide,
                decimals=6)
    return 0


def _read(settings: Settings, report) -> dict:
    store = open_reader(settings)
    try:
        return why_report.run(store.query, report)
    finally:
        store.close()


def _print_why(report: dict, wide: bool) -> None:
    scope = ", ".join(f"{name} {value}" for name, value in report["scope"].items()) or "all calls"
    change, before = Decimal(report["change_usd"]), Decimal(report["baseline_cost_usd"])
    pct = f" ({change / before * 100:+.1f}%)" if before else ""
    print(f"Cost of {scope}, {_when(report['range']['since'])} to {_when(report['range']['until'])}: "
          f"{money(report['cost_usd'])}")
    print(f"Baseline ({report['baseline']['chosen']}), {_when(report['baseline']['since'])} to "
          f"{_when(report['baseline']['until'])}: {money(report['baseline_cost_usd'])}")
    print(f"Change: {money(change, signed=True)}{pct}\n")
    figures = report["figures"]
    print_table([{"": label, "baseline": render(figures["baseline"]), "current": render(figures["current"])}
                 for label, render in _FIGURES], "", "", wide=wide)
    print("\nThe change by cause (the causes add up to it exactly; `--json` has 12 decimals):")
    print_table([{"cause": cause["label"], "change_usd": cause["change_usd"],
                  "mostly": ", ".join(f"{key['feature'] or '-'} {key['provider']}/{key['model']} "
                                      f"{money(key['change_usd'], signed=True)}" for key in cause["top_segments"][:2])}
                 for cause in report["causes"]], "cause", "", wide=wide, signed=("change_usd",))
    if report["top_requests"]:
        print("\nMost expensive requests of the range (`otel-llmcost request ID` shows one):")
    for row in report["top_requests"]:
        print(f"\n{row['tenant_id']} / {row['request_id']}: {money(row['request_cost_usd'])}, "
              f"{row['request_calls']} calls, {row['request_failed_calls']} failed")
        print(f"  feature {row['request_feature'] or '-'}, user {row['user'] or '-'}, from {row['started'][:19]} UTC")
        print_table(_attempt_rows(row["attempts"]), "attempt", "(no calls in the range)",
                    wide=wide, decimals=6)


def _attempt_rows(calls: list[dict]) -> list[dict]:
    """The calls as table rows: the counts (kinds.py) some call has, latency and status before the trace id."""
    kinds = [kind for kind in COUNTS if any(call[kind] for call in calls)]
    return [{"attempt": call["attempt"], "started": call["started"][11:19],
             "model": call["response_model"] or call["request_model"], "status": call["error_type"] or call["status"],
             "cost_usd": call["cost"], "share": f"{call['cost_share_pct']}%" if call["cost_share_pct"] else "",
             "latency_ms": round(call["latency_ms"]), **{kind: call[kind] for kind in kinds},
             "trace_id": call["trace_id"]} for call in calls]



def _per(figures: dict, name: str) -> str:
    return f"{figures[name] / figures['calls']:,.0f}" if figures["calls"] else ""


_FIGURES = (
    ("cost", lambda f: money(f["cost_usd"])),
    ("requests", lambda f: f"{f['requests']:,}"),
    ("calls", lambda f: f"{f['calls']:,}"),
    ("retries (attempt > 1)", lambda f: f"{f['retry_calls']:,}"),
    ("failed calls", lambda f: f"{f['failed_calls']:,}"),
    ("input tokens per call", lambda f: _per(f, "input_tokens")),
    ("cache reads of input", lambda f: f"{f['cache_read_tokens'] / f['input_tokens']:.1%}" if f["input_tokens"]
     else ""),
    ("output tokens per call", lambda f: _per(f, "output_tokens")),
    ("cost per request", lambda f: money(f["cost_per_request_usd"], 6)),
)


def _when(iso: str) -> str:
    return datetime.fromisoformat(iso).strftime("%Y-%m-%d %H:%M UTC")
