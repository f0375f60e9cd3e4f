"""`otel-llmcost prices validate | quote | coverage | drift | update`, `whatif` and `reprice`."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path

from otel_llmcost.cli import finops
from otel_llmcost.cli.query import parse_time, time_window
from otel_llmcost.cli.tables import print_table
from otel_llmcost.config import Settings
from otel_llmcost.errors import ConfigError
from otel_llmcost.kinds import COUNTED
from otel_llmcost.pricing import load_price_book, quote, validate_file
from otel_llmcost.reports import queries
from otel_llmcost.reports.price_changes import changes, repriced_calls
from otel_llmcost.reports.repricing import reprice
from otel_llmcost.reports.whatif import what_if
from otel_llmcost.store import open_reader, open_store
from otel_llmcost.store.migrations import SchemaOptions

QUOTE_FLAGS = {kind.field: kind.count for kind in COUNTED}  # flag -> the count it sets


def add_commands(commands, store_flags) -> None:
    prices = commands.add_parser("prices", help="price book: validate files, quote a call, list unpriced models")
    actions = prices.add_subparsers(dest="action", metavar="ACTION", required=True)
    validate = actions.add_parser("validate", help="check price book files; errors name file and line")
    validate.add_argument("files", nargs="+", metavar="FILE")
    validate.set_defaults(run=run_validate, needs_settings=False)
    quote_cmd = actions.add_parser("quote", help="the cost of given usage, as JSON (same path as ingestion)")
    store_flags(quote_cmd)
    quote_cmd.add_argument("--provider", required=True)
    quote_cmd.add_argument("--model", required=True)
    for flag in QUOTE_FLAGS:
        quote_cmd.add_argument(f"--{flag.replace('_', '-')}", type=int, default=0, metavar="N", dest=flag)
    quote_cmd.add_argument("--at", help="price at this time (default now)")
    quote_cmd.add_argument("--service-tier", default="")
    quote_cmd.add_argument("--tenant", default="", help="apply this tenant's contract adjustments")
    quote_cmd.set_defaults(run=run_quote)
    coverage = actions.add_parser("coverage", help="models seen but unpriced, with calls and tokens")
    store_flags(coverage)
    coverage.add_argument("--since", default="30d")
    coverage.add_argument("--json", action="store_true")
    coverage.set_defaults(run=run_coverage)
    finops.add_drift(actions, store_flags)

    update = actions.add_parser("update", help="newer prices from the bundled book's sources: the changes by "
                                "model and date, and the stored calls to reprice")
    store_flags(update)
    update.add_argument("--from", dest="built", metavar="FILE",
                        help="a book built from the newer sources (default: build one now with "
                             "scripts/build_price_book.py from the installed genai-prices)")
    update.add_argument("--litellm", metavar="WHEEL|JSON", help="LiteLLM's model map for the build")
    update.add_argument("--genai-prices-data", metavar="JSON",
                        help="newer genai-prices data for the build (the provider list genai-prices' own updater "
                             "fetches; default: the installed package's)")
    update.add_argument("--since", default="90d", help="the stored calls to check (default 90d)")
    update.add_argument("--reprice", action="store_true", help="reprice those calls now with the new book on top")
    update.add_argument("--json", action="store_true", help="the changes as JSON lines")
    update.set_defaults(run=run_update)

    whatif = commands.add_parser("whatif", help="what recorded usage would have cost on another model")
    store_flags(whatif)
    whatif.add_argument("--model", required=True)
    whatif.add_argument("--provider", help="default: the provider the price book knows the model from")
    whatif.add_argument("--since", default="30d")
    whatif.add_argument("--until")
    whatif.add_argument("--tenant", default="")
    whatif.add_argument("--feature", default="")
    whatif.add_argument("--json", action="store_true")
    whatif.set_defaults(run=run_whatif)

    reprice_cmd = commands.add_parser("reprice", help="recompute stored costs after a price book change")
    store_flags(reprice_cmd)
    reprice_cmd.add_argument("--since", required=True)
    reprice_cmd.add_argument("--until")
    reprice_cmd.add_argument("--dry-run", action="store_true", help="report what would change, write nothing")
    reprice_cmd.set_defaults(run=run_reprice)


def run_validate(args: argparse.Namespace, _settings: Settings | None) -> int:
    failed = False
    for path in args.files:
        errors = validate_file(path)
        for error in errors:
            print(error)
        if not errors:
            book = load_price_book([path])
            layer = book.layers[-1]
            print(f"{path}: valid, version {layer.version}, {len(layer.entries)} prices, "
                  f"{len(layer.deployments)} deployments, {len(layer.adjustments)} adjustments")
        failed = failed or bool(errors)
    return 1 if failed else 0


def run_quote(args: argparse.Namespace, settings: Settings) -> int:
    at = parse_time(args.at, datetime.now(timezone.utc), "--at") if args.at else datetime.now(timezone.utc)
    usage = {kind: getattr(args, flag) for flag, kind in QUOTE_FLAGS.items()}
    cost = quote(load_price_book(settings.pricing.price_books), args.provider, args.model, usage, at,
                 service_tier=args.service_tier, tenant=args.tenant)
    document = {"provider": args.provider, "model": args.model, "at": at.isoformat(), **usage,
                **{name: _json(getattr(cost, name)) for name in cost.__dataclass_fields__}}
    print(json.dumps(document, indent=2))
    return 0 if cost.status in ("priced", "estimated") else 1


def run_coverage(args: argparse.Namespace, settings: Settings) -> int:
    now = datetime.now(timezone.utc)
    price_book = load_price_book(settings.pricing.price_books)
    store = open_reader(settings)
    try:
        window = queries.time_range(*time_window(args.since, None, now))
        rows = store.query(queries.unpriced_models(store.database), window)
    finally:
        store.close()
    for row in rows:  # a price added since ingestion: `reprice` would fix these rows
        entry, _ = price_book.lookup(row["provider"], row["model"], now)
        row["now_priced_by"] = entry.price_id if entry else ""
    _output(rows, args.json, "model", empty="every model seen in this range is priced")
    return 0


def run_update(args: argparse.Namespace, settings: Settings) -> int:
    now = datetime.now(timezone.utc)
    built = args.built or _build(args.litellm, args.genai_prices_data,
                                 Path(settings.data_dir) / "prices" / f"update-{now.date()}.yaml")
    current, newer = load_price_book(settings.pricing.price_books), load_price_book([built])
    found = changes(current.layers[0], newer.layers[-1])
    _output([{"provider": c.provider, "models": c.models, "effective_from": str(c.effective_from.date()),
              "service_tier": c.service_tier, "change": c.change} for c in found], args.json, "provider",
            empty="no price changes against the bundled book")
    since, until = time_window(args.since, None, now)
    updated = load_price_book([built, *settings.pricing.price_books])  # the user's own books stay on top
    writer = open_store(settings) if args.reprice else None
    store = writer if writer is not None else open_reader(settings)
    try:
        if writer is not None:
            writer.ensure_schema(SchemaOptions.of(settings))
        affected = repriced_calls(store, current, updated, since, until)
        calls, first = sum(row["calls"] for row in affected), min((row["first"] for row in affected), default="")
        print(f"{calls} stored calls of {len(affected)} models since {since.date()} are priced differently by {built}")
        if affected and writer is not None:
            summary = reprice(writer, updated, parse_time(first, now, "first"), until, False)
            print(f"run {summary.run_id}: {summary.changed_rows} calls repriced")
        elif affected:
            print(f"add {built} to pricing.price_books (before your own books), then: "
                  f"otel-llmcost reprice --since {first[:10]}")
    finally:
        store.close()
    return 0


def _build(litellm: str | None, genai_data: str | None, out: Path) -> str:
    """A new bundled book from the installed sources (or newer data files), with the build script of a source
    checkout."""
    script = Path(__file__).resolve().parents[3] / "scripts" / "build_price_book.py"
    if not script.exists():
        raise ConfigError("building needs a source checkout (scripts/build_price_book.py); or give --from FILE")
    out.parent.mkdir(parents=True, exist_ok=True)
    sources = [*(["--litellm", litellm] if litellm else []), *(["--genai-prices-data", genai_data] if genai_data
                                                                 else [])]
    built = subprocess.run([sys.executable, str(script), "--out", str(out), *sources],
                           capture_output=True, text=True, check=False)
    if built.returncode != 0:
        raise ConfigError(f"the price book build failed: {built.stderr.strip().splitlines()[-1:]}")
    return str(out)


def run_whatif(args: argparse.Namespace, settings: Settings) -> int:
    now = datetime.now(timezone.utc)
    price_book = load_price_book(settings.pricing.price_books)
    provider = args.provider or next(iter(price_book.providers_for(args.model)), "")
    if not provider:
        raise ConfigError(f"no price for model {args.model!r}; name its --provider or add it to a price book")
    since, until = time_window(args.since, args.until, now)
    store = open_reader(settings)
    try:
        lines = what_if(store, price_book, provider, args.model, since, until, now, tenant=args.tenant,
                        feature=args.feature)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    finally:
        store.close()
    rows = [{"provider": line.provider, "model": line.model, "calls": line.calls, "actual_usd": _usd(line.actual_usd),
             "unpriced_calls": line.unpriced_calls, f"as_{args.model}_usd": _usd(line.whatif_usd),
             "estimated_calls": line.estimated_calls} for line in lines]
    if rows:
        rows.append({"provider": "", "model": "TOTAL", "calls": sum(line.calls for line in lines),
                     "actual_usd": _usd(sum((line.actual_usd for line in lines), Decimal(0))),
                     "unpriced_calls": sum(line.unpriced_calls for line in lines),
                     f"as_{args.model}_usd": _usd(sum((line.whatif_usd for line in lines), Decimal(0))),
                     "estimated_calls": sum(line.estimated_calls for line in lines)})
    _output(rows, args.json, "provider", empty="no LLM calls in this range")
    return 0


def run_reprice(args: argparse.Namespace, settings: Settings) -> int:
    since, until = time_window(args.since, args.until, datetime.now(timezone.utc))
    price_book = load_price_book(settings.pricing.price_books)
    store = open_store(settings)
    try:
        store.ensure_schema(SchemaOptions.of(settings))
        summary = reprice(store, price_book, since, until, args.dry_run,
                          progress=lambda message: print(message, file=sys.stderr, flush=True))
    finally:
        store.close()
    rows = [{"model": model, "rows": t.rows, "old_total_usd": _usd(t.old_total), "new_total_usd": _usd(t.new_total)}
            for model, t in sorted(summary.by_model.items())]
    _output(rows, False, "model", empty="no priced calls in this range")
    verb = "would change" if args.dry_run else "changed"
    print(f"run {summary.run_id}: {summary.rows} calls checked, {summary.changed_rows} {verb}, "
          f"price book {price_book.version}{' (dry run: nothing written)' if args.dry_run else ''}")
    return 0


def _json(value):
    return _usd(value) if isinstance(value, Decimal) else value


def _usd(amount: Decimal) -> str:
    return format(amount, "f")  # never "0E-12"


def _output(rows: list[dict], as_json: bool, first_title: str, empty: str) -> None:
    if as_json:
        for row in rows:
            print(json.dumps(row))
    else:
        print_table(rows, first_title, empty)
