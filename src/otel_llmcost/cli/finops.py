"""`otel-llmcost reconcile` (the provider's bill beside the stored calls), `prices drift` (the costs spans
carried beside ours), `export focus` (a month as a FOCUS dataset) and `statement` (a tenant's chargeback)."""

from __future__ import annotations

import argparse
import json
import uuid
from datetime import datetime, timezone
from decimal import Decimal, InvalidOperation

from otel_llmcost.reports import queries
from otel_llmcost.cli.query import print_table, time_window
from otel_llmcost.config import Settings
from otel_llmcost.errors import ConfigError
from otel_llmcost.reports import focus
from otel_llmcost.reports.chargeback import load_chargeback
from otel_llmcost.reports.exports import read_export
from otel_llmcost.reports.finops_sql import cost_drift
from otel_llmcost.reports.reconcile import reconcile, save, status
from otel_llmcost.reports.statement import statement
from otel_llmcost.store import open_reader, open_store
from otel_llmcost.store.migrations import SchemaOptions
from otel_llmcost.store.parquet import csv_to_parquet


def add_commands(commands, store_flags) -> None:
    command = commands.add_parser(
        "reconcile", help="the providers' usage/cost exports beside the stored calls: gaps and their reasons")
    store_flags(command)
    command.add_argument("files", nargs="+", metavar="FILE",
                         help="OpenAI/Anthropic usage or cost JSON, AWS CUR 2.0 CSV, Google billing NDJSON, "
                              "Azure cost details CSV, FOCUS CSV")
    command.add_argument("--account", action="append", default=[], metavar="ID=TENANT",
                         help="the export's project/API key/workspace/account id is this tenant (repeatable): "
                              "then match per tenant too")
    command.add_argument("--tolerance", default="0.01", metavar="USD", help="gaps up to this are matched (0.01)")
    command.add_argument("--no-store", action="store_true", help="print only; do not record the run")
    command.add_argument("--json", action="store_true", help="JSON lines: the totals, then each gap")
    command.set_defaults(run=run_reconcile)

    export = commands.add_parser("export", help="stored usage in a standard format for FinOps tools")
    formats = export.add_subparsers(dest="standard", metavar="STANDARD", required=True)
    focus_cmd = formats.add_parser("focus", help="a month as a FOCUS 1.3 Cost and Usage dataset (CSV or Parquet)")
    store_flags(focus_cmd)
    focus_cmd.add_argument("--month", required=True, metavar="YYYY-MM")
    focus_cmd.add_argument("--tenant", default="", help="only this tenant's calls")
    focus_cmd.add_argument("--format", choices=["csv", "parquet"], default="csv")
    focus_cmd.add_argument("--output", metavar="FILE",
                           help="default focus-YYYY-MM[-TENANT].csv|parquet; FOCUS metadata goes to FILE.metadata.json")
    focus_cmd.set_defaults(run=run_export_focus)

    statement_cmd = commands.add_parser("statement", help="a tenant's monthly chargeback statement: list, effective "
                                                          "and billed cost per day, feature and model")
    store_flags(statement_cmd)
    statement_cmd.add_argument("--tenant", required=True)
    statement_cmd.add_argument("--month", required=True, metavar="YYYY-MM")
    statement_cmd.add_argument("--chargeback", metavar="FILE",
                               help="markups, currencies and exchange rates (default: list cost, USD)")
    statement_cmd.add_argument("--format", choices=["csv", "json"], default="csv")
    statement_cmd.set_defaults(run=run_statement)


def add_drift(actions, store_flags) -> None:
    drift = actions.add_parser("drift", help="models whose spans' own cost (provider, gateway, SDK) differs "
                                             "from ours: by how much, with examples")
    store_flags(drift)
    drift.add_argument("--since", default="30d")
    drift.add_argument("--until")
    drift.add_argument("--tolerance", default="0.01", metavar="SHARE",
                       help="a call differs when the two costs differ by more than this share (0.01 = 1%%)")
    drift.add_argument("--json", action="store_true")
    drift.set_defaults(run=run_drift)


def run_reconcile(args: argparse.Namespace, settings: Settings) -> int:
    tolerance = _decimal(args.tolerance, "--tolerance")
    accounts = {}
    for pair in args.account:
        account, sep, tenant = pair.partition("=")
        if not sep or not account:
            raise ConfigError(f"--account {pair!r}: expected ID=TENANT")
        accounts[account] = tenant
    lines = [line for path in args.files for line in read_export(path)]
    run_id = uuid.uuid4().hex[:12]
    if args.no_store:
        reader = open_reader(settings)
        try:
            result = reconcile(reader, lines, accounts, tolerance)
        finally:
            reader.close()
    else:
        store = open_store(settings)
        try:
            store.ensure_schema(SchemaOptions.of(settings))
            result = reconcile(store, lines, accounts, tolerance)
            save(store, result, run_id, datetime.now(timezone.utc))
        finally:
            store.close()
    totals = {"run_id": run_id, "sources": "+".join(result.sources), "billed_usd": _usd(result.billed_usd),
              "ours_usd": _usd(result.ours_usd), "matched_usd": _usd(result.matched_usd),
              "ours_over_usd": _usd(result.over_usd), "ours_under_usd": _usd(result.under_usd),
              "matched_pct": None if result.matched_pct is None else str(result.matched_pct),
              "unexplained_usd": _usd(result.unexplained_usd)}
    gaps = [{"day": g.day.isoformat(), "provider": g.provider, "model": g.model, "tenant": g.tenant,
             "billed_usd": _usd(g.billed_usd), "ours_usd": _usd(g.ours_usd), "gap_usd": _usd(g.gap_usd),
             "status": status(g, tolerance), "calls": g.calls, "reason": g.reason} for g in result.gaps()]
    if args.json:
        for row in [totals, *gaps]:
            print(json.dumps(row))
        return 0
    print(f"billed {totals['billed_usd']} USD, ours {totals['ours_usd']} USD: matched {totals['matched_usd']} "
          f"({totals['matched_pct'] or '-'}%), ours over {totals['ours_over_usd']}, ours under "
          f"{totals['ours_under_usd']}, unexplained {totals['unexplained_usd']} (run {run_id}, {len(lines)} lines"
          f" of {totals['sources']})")
    print_table(gaps, "day", f"no gap above {tolerance} USD")
    return 0


def run_drift(args: argparse.Namespace, settings: Settings) -> int:
    tolerance = _decimal(args.tolerance, "--tolerance")
    store = open_reader(settings)
    try:
        window = queries.time_range(*time_window(args.since, args.until, datetime.now(timezone.utc)))
        rows = store.query(cost_drift(store.database), window | {"tolerance": str(tolerance)})
    finally:
        store.close()
    for row in rows:
        ours = Decimal(row["ours_usd"])
        row["difference_pct"] = str((Decimal(row["difference_usd"]) / ours * 100).quantize(Decimal("0.1"))) \
            if ours else None
        row["examples"] = [dict(zip(("trace_id", "span_id", "ts", "emitter_usd", "ours_usd", "input_tokens",
                                     "output_tokens", "price_id"), example)) for example in row["examples"]]
    if args.json:
        for row in rows:
            print(json.dumps(row))
        return 0
    table = [{key: value for key, value in row.items() if key != "examples"} |
             {"example": " ".join(f"{e['trace_id']}/{e['span_id']}: {e['emitter_usd']} vs {e['ours_usd']}"
                                  for e in row["examples"][:1])} for row in rows]
    print_table(table, "provider", "no span's own cost differs from ours in this range")
    return 0


def run_export_focus(args: argparse.Namespace, settings: Settings) -> int:
    month = _month(args.month)
    output = args.output or f"focus-{args.month}{'-' + args.tenant if args.tenant else ''}.{args.format}"
    store = open_reader(settings)
    try:
        rows = focus.focus_rows(store, month, args.tenant)
    finally:
        store.close()
    text = focus.to_csv(rows)
    if args.format == "parquet":
        csv_to_parquet(text, focus.COLUMNS, output)
    else:
        with open(output, "w", encoding="utf-8", newline="") as out:
            out.write(text)
    with open(f"{output}.metadata.json", "w", encoding="utf-8") as out:
        json.dump(focus.metadata(month, args.tenant), out, indent=2)
    billed = sum((Decimal(row["BilledCost"]) for row in rows), Decimal(0))
    print(f"{output}: {len(rows)} rows, FOCUS {focus.FOCUS_VERSION}, billed {_usd(billed)} USD "
          f"(metadata in {output}.metadata.json)")
    return 0


def run_statement(args: argparse.Namespace, settings: Settings) -> int:
    chargeback = load_chargeback(args.chargeback)
    month = _month(args.month)
    store = open_reader(settings)
    try:
        result = statement(store, chargeback, args.tenant, month)
    finally:
        store.close()
    print(json.dumps(result.as_document(), indent=2) if args.format == "json" else result.as_csv(), end="\n"
          if args.format == "json" else "")
    return 0


def _month(text: str) -> focus.Month:
    try:
        return focus.Month.parse(text)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def _decimal(text: str, flag: str) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise ConfigError(f"{flag} {text!r}: not a number") from None
    if value < 0:
        raise ConfigError(f"{flag} {text!r}: must not be negative")
    return value


def _usd(amount: Decimal) -> str:
    return format(amount, "f")
