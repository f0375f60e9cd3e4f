"""`otel-llmcost tenants grant T`: the SQL giving tenant T its own read-only user on a ClickHouse server."""

from __future__ import annotations

import argparse
import secrets
import sys

from otel_llmcost.config import Settings
from otel_llmcost.query.grants import grant_statements, user_name


def add_commands(commands, store_flags) -> None:
    tenants = commands.add_parser("tenants", help="ClickHouse server users and row policies per tenant")
    actions = tenants.add_subparsers(dest="action", metavar="ACTION", required=True)
    grant = actions.add_parser("grant", help="print CREATE USER / GRANT / CREATE ROW POLICY for a tenant")
    store_flags(grant)
    grant.add_argument("tenant")
    grant.add_argument("--admin-user", action="append", default=None, metavar="USER",
                       help="server users that keep seeing every row (default: default); repeatable")
    grant.set_defaults(run=run_grant)


def run_grant(args: argparse.Namespace, settings: Settings) -> int:
    password = secrets.token_urlsafe(24)
    admins = tuple(args.admin_user or ["default"])
    for statement in grant_statements(settings.store.database_name, args.tenant, password, admins):
        print(statement + ";")
    print(f"-- user {user_name(args.tenant)}: its password is on stderr (shown once; only its SHA-256 is above)",)
    print(f"password for {user_name(args.tenant)}: {password}", file=sys.stderr)
    return 0
