"""Command line: `otel-llmcost serve | sql | stats | why | request | prices | whatif | reprice | reconcile | keys
| tenants | schema | migrate | anomalies | budgets | grafana-alerts | demo`.

Errors are one line on stderr, exit 2."""

from __future__ import annotations

import argparse
import sys

from otel_llmcost import __version__
from otel_llmcost.config import Settings, load_settings
from otel_llmcost.errors import OtelLlmCostError


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    # `serve` alone skips the other commands' modules (reports, queries, demo...): a faster start.
    parser = _parser(serve_only=argv[:1] == ["serve"])
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    try:
        settings = _settings(args) if getattr(args, "needs_settings", True) else None
        return args.run(args, settings)
    except OtelLlmCostError as exc:
        print(f"otel-llmcost {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def _settings(args: argparse.Namespace) -> Settings:
    return load_settings(
        getattr(args, "config", None),
        {
            "data_dir": getattr(args, "data_dir", None),
            "store.clickhouse": getattr(args, "clickhouse", None),
            "receiver.grpc_port": getattr(args, "grpc_port", None),
            "receiver.http_port": getattr(args, "http_port", None),
            "receiver.workers": getattr(args, "workers", None),
            "receiver.grpc_host": getattr(args, "host", None),
            "receiver.http_host": getattr(args, "host", None),
            "log_level": getattr(args, "log_level", None),
            "query.port": getattr(args, "query_port", None),
            "query.enabled": False if getattr(args, "no_query_listener", False) else None,
            "store.enabled": False if getattr(args, "store", None) == "none" else None,
        },
    )


def _store_flags(command: argparse.ArgumentParser) -> None:
    command.add_argument("--config", metavar="FILE", help="YAML settings file (see README)")
    command.add_argument(
        "--data-dir", metavar="DIR", help="embedded store and spool directory (default ./llmcost-data)"
    )
    command.add_argument(
        "--clickhouse", metavar="URL", help="use a ClickHouse server: clickhouse://user:pass@host:9000/db"
    )


def _parser(serve_only: bool = False) -> argparse.ArgumentParser:
    from otel_llmcost.cli import serve

    parser = argparse.ArgumentParser(prog="otel-llmcost", description="What your LLM calls cost, from OTLP spans.")
    parser.add_argument("--version", action="version", version=f"otel-llmcost {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    serve_cmd = commands.add_parser("serve", help="receive OTLP (gRPC 4317, HTTP 4318) and store priced rows")
    _store_flags(serve_cmd)
    serve_cmd.add_argument(
        "--host", help="listen address for both receivers (default 127.0.0.1; 0.0.0.0 when receiver.require_keys)"
    )
    serve_cmd.add_argument("--grpc-port", type=int, metavar="PORT", help="OTLP/gRPC port (default 4317, 0 = any)")
    serve_cmd.add_argument("--http-port", type=int, metavar="PORT", help="OTLP/HTTP port (default 4318, 0 = any)")
    serve_cmd.add_argument("--workers", type=int, metavar="N",
                           help="ingest worker processes (default 1: one process)")
    serve_cmd.add_argument("--log-level", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    serve_cmd.add_argument("--query-port", type=int, metavar="PORT",
                           help="ClickHouse HTTP interface for Grafana and SQL clients (default 8123, 0 = any)")
    serve_cmd.add_argument("--store", choices=("none",),
                           help="none: store nothing, only price spans and forward them (needs forward: settings)")
    serve_cmd.add_argument("--no-query-listener", action="store_true",
                           help="do not serve the ClickHouse HTTP interface over the embedded store")
    serve_cmd.set_defaults(run=serve.run)
    if serve_only:
        return parser
    _other_commands(commands)
    return parser


def _other_commands(commands: argparse._SubParsersAction) -> None:
    from otel_llmcost.cli import alerts, demo, events, finops, keys, prices, query, tenants, why
    from otel_llmcost.reports.usage_stats import FILTERS, GROUPS

    sql_cmd = commands.add_parser("sql", help="run a read-only SQL query, print JSON lines")
    _store_flags(sql_cmd)
    sql_cmd.add_argument("query", help='e.g. "SELECT feature, sum(cost_usd) FROM llmcost.llm_usage GROUP BY feature"')
    sql_cmd.set_defaults(run=query.run_sql)

    stats_cmd = commands.add_parser("stats", help="totals: requests, failures, tokens by kind, list, effective "
                                                  "and billed cost, latency")
    _store_flags(stats_cmd)
    stats_cmd.add_argument("--by", choices=[group for group in GROUPS if group], help="group the totals")
    for name in FILTERS:
        stats_cmd.add_argument(f"--{name}", metavar=name.upper(), help=f"only calls of this {name}")
    stats_cmd.add_argument("--compare", action="store_true",
                           help="beside the previous period of the same length, with the change per group")
    stats_cmd.add_argument("--since", default="30d", help="start: ISO time or age like 24h, 7d (default 30d)")
    stats_cmd.add_argument("--until", help="end (exclusive): ISO time or age (default now)")
    stats_cmd.add_argument("--chargeback", metavar="FILE",
                           help="markups, currencies and exchange rates for the billed cost (default: billed = "
                                "effective, USD)")
    stats_cmd.add_argument("--json", action="store_true", help="JSON lines instead of a table")
    stats_cmd.add_argument("--wide", action="store_true", help="every column, however wide the table")
    stats_cmd.set_defaults(run=query.run_stats)

    prices.add_commands(commands, _store_flags)
    finops.add_commands(commands, _store_flags)
    keys.add_commands(commands, _store_flags)
    tenants.add_commands(commands, _store_flags)
    alerts.add_commands(commands, _store_flags)
    events.add_command(commands, _store_flags)
    why.add_commands(commands, _store_flags)
    demo.add_command(commands)

    schema_cmd = commands.add_parser("schema", help="print the DDL for a ClickHouse server")
    _store_flags(schema_cmd)
    schema_cmd.set_defaults(run=query.run_schema)

    migrate_cmd = commands.add_parser("migrate", help="apply pending schema migrations (serve does it at start)")
    _store_flags(migrate_cmd)
    migrate_cmd.set_defaults(run=query.run_migrate)
