"""Write what a new billable kind (or any new llm_usage or rollup column) needs: its fields and its migration.

Usage: python scripts/kinds_migration.py NUMBER NAME     e.g.  python scripts/kinds_migration.py 10 search_kinds

First the per-kind fields of the classes that carry them are rewritten from kinds.py (scripts/kinds_code.py).
Then every existing migration is applied to a scratch chDB database; the columns the code wants (kinds.py ->
store/schema.py, store/rollups.py) and the tables lack are written as clickhouse/migrations/NNN_NAME.sql
(literal SQL; see store/schema_sync.py). Nothing is written when nothing is missing. Take the number
reserved for your issue.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import kinds_code  # this directory: run as a script

MIGRATIONS = Path(__file__).resolve().parents[1] / "clickhouse" / "migrations"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("number", type=int)
    parser.add_argument("name")
    args = parser.parse_args()
    if not re.fullmatch(r"[a-z0-9_]+", args.name):
        parser.error("NAME: lower-case letters, digits and _")
    taken = [path.name for path in MIGRATIONS.glob(f"{args.number:03}_*.sql")]
    if taken:
        parser.error(f"migration {args.number:03} exists: {taken[0]}")
    kinds_code.main([])
    # imported only now: the store's column lists come from the classes just rewritten
    from otel_llmcost.store.schema_sync import migration_text, pending_for_fresh_install

    statements = pending_for_fresh_install()
    if not statements:
        print("the migrated schema already has every column the code wants: nothing written")
        return 0
    path = MIGRATIONS / f"{args.number:03}_{args.name}.sql"
    path.write_text(migration_text(args.number, args.name, statements), encoding="utf-8")
    print(f"wrote {path} ({len(statements)} statements)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
