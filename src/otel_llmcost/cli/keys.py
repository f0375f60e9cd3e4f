"""`otel-llmcost keys create | list | revoke`: ingest keys and query keys (see otel_llmcost.keys)."""

from __future__ import annotations

import argparse
import json
import sys

from otel_llmcost.config import Settings
from otel_llmcost.errors import ConfigError
from otel_llmcost.keys import INGEST, QUERY, USES, KeyStore


def add_commands(commands, store_flags) -> None:
    keys = commands.add_parser("keys", help="API keys: ingest keys export spans, query keys read (Grafana, SQL); "
                                            "a tenant key is bound to one tenant, an admin key to all")
    actions = keys.add_subparsers(dest="action", metavar="ACTION", required=True)
    create = actions.add_parser("create", help="make a key and print its secret (shown only once)")
    store_flags(create)
    bound = create.add_mutually_exclusive_group(required=True)
    bound.add_argument("--tenant", help="the tenant this key writes and reads")
    bound.add_argument("--admin", action="store_true", help="every tenant")
    create.add_argument("--ingest", action="store_true", help="for apps and Collectors exporting spans")
    create.add_argument("--query", action="store_true", help="for Grafana and SQL clients of the query listener")
    create.add_argument("--label", default="", help="a note for `keys list`")
    create.set_defaults(run=run_create)
    listing = actions.add_parser("list", help="the keys (never their secrets)")
    store_flags(listing)
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(run=run_list)
    revoke = actions.add_parser("revoke", help="revoke a key by its id; a running receiver refuses it at once")
    store_flags(revoke)
    revoke.add_argument("key_id")
    revoke.set_defaults(run=run_revoke)


def run_create(args: argparse.Namespace, settings: Settings) -> int:
    uses = tuple(use for use in USES if getattr(args, use))
    if not uses:
        raise ConfigError("say what the key is for: --ingest (apps exporting spans), --query (Grafana, SQL "
                          "clients), or both")
    key, secret = KeyStore(settings.keys_path).create(None if args.admin else args.tenant, uses, args.label)
    print(json.dumps({"key_id": key.key_id, "tenant": key.tenant, "uses": list(key.uses), "secret": secret}))
    if INGEST in uses and not settings.receiver.require_keys:
        print("note: exports without a key are still accepted: set receiver.require_keys: true to require "
              "ingest keys", file=sys.stderr)
    if QUERY in uses and not settings.query.require_keys:
        print("note: the query listener now needs a query key (its CLI aside); ingest is unchanged", file=sys.stderr)
    return 0


def run_list(args: argparse.Namespace, settings: Settings) -> int:
    for key in KeyStore(settings.keys_path).list():
        if args.json:
            print(json.dumps({"key_id": key.key_id, "tenant": key.tenant, "uses": list(key.uses), "label": key.label,
                              "created_at": key.created_at}))
        else:
            print(f"{key.key_id}  {key.tenant or '(admin)'}  {'+'.join(key.uses)}  {key.created_at}  "
                  f"{key.label}".rstrip())
    return 0


def run_revoke(args: argparse.Namespace, settings: Settings) -> int:
    store = KeyStore(settings.keys_path)
    if not store.revoke(args.key_id):
        raise ConfigError(f"no key with id {args.key_id!r}")
    for use, required in ((INGEST, settings.receiver.require_keys), (QUERY, settings.query.require_keys)):
        if required and not store.has_keys(use):
            print(f"warning: no {use} key is left: a receiver that requires them stops", file=sys.stderr)
    return 0
