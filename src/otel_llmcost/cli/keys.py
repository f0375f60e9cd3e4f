"""`otel-llmcost keys create | list | revoke`: API keys for ingest and queries (see otel_llmcost.keys)."""

from __future__ import annotations

import argparse
import json

from otel_llmcost.config import Settings
from otel_llmcost.errors import ConfigError
from otel_llmcost.keys import KeyStore


def add_commands(commands, store_flags) -> None:
    keys = commands.add_parser("keys", help="API keys: a tenant key writes and reads one tenant, an admin key all")
    actions = keys.add_subparsers(dest="action", metavar="ACTION", required=True)
    create = actions.add_parser("create", help="make a key and print its secret (shown only once)")
    store_flags(create)
    bound = create.add_mutually_exclusive_group(required=True)
    bound.add_argument("--tenant", help="the tenant this key writes and reads")
    bound.add_argument("--admin", action="store_true", help="every tenant")
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
    key, secret = KeyStore(settings.keys_path).create(None if args.admin else args.tenant, args.label)
    print(json.dumps({"key_id": key.key_id, "tenant": key.tenant, "secret": secret}))
    return 0


def run_list(args: argparse.Namespace, settings: Settings) -> int:
    for key in KeyStore(settings.keys_path).list():
        if args.json:
            print(json.dumps({"key_id": key.key_id, "tenant": key.tenant, "label": key.label,
                              "created_at": key.created_at}))
        else:
            print(f"{key.key_id}  {key.tenant or '(admin)'}  {key.created_at}  {key.label}".rstrip())
    return 0


def run_revoke(args: argparse.Namespace, settings: Settings) -> int:
    if not KeyStore(settings.keys_path).revoke(args.key_id):
        raise ConfigError(f"no key with id {args.key_id!r}")
    return 0
