"""Applied migrations are frozen text: their SHA-256 digests are pinned here (genai-prices' frozen-data test).

A migration that has shipped may already be applied to a database; changing its text would make a fresh
install differ from an upgraded one, silently. Add a new migration instead (for a new billable kind:
`python scripts/kinds_migration.py`), then add its digest below once it has landed on main.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from otel_llmcost.store.schema_sync import pending_for_fresh_install

MIGRATIONS = Path(__file__).parents[1] / "clickhouse" / "migrations"
FROZEN = {
    "000_schema_migrations.sql": "f05a0a98148cbc8d666851532a1c62cf4806e34585f75742842ea84e3a5a83f1",
    "001_initial.sql": "c6335655909024f908d5ad749d4e5edebaef73f93de42b6ae3191eca36049d13",
    "002_insert_dedup.sql": "9ca4f097d8884477c5711a3519eb4da95427a9a4a9b09c592570900d4865c27f",
    "003_rollups.sql": "2fb3a44386d490f5ca4c9be71d1749c6fa460e879ac0eb8d0ba9dbf33202694e",
    "004_traces.sql": "c281a135c179e1033e5bf46ab4ad1d996019054bce5e18e532c9705960cbf3f3",
    "005_rejected_calls.sql": "facebdaf69e56d4dfa7fb0e7aeda46e273b3629ed22dab0e66f63b7787bba72e",
    "006_dashboard_rollups.sql": "1bb0f9680c80e42daf12fa01d44333fad3082ec91f1471760b6d0b0af8c71888",
    "007_latency_rollups.sql": "a1eeb4a16801ce2e6597d3b6a901273eecdd6bbdbce761709bb82e08191dcbff",
}
# what a migration may leave to be filled in at apply time: names of the database and of the cluster setup
_PLACEHOLDERS = {"database", "local", "on_cluster", "replicated", "replica", "dedup_window"}


def test_applied_migrations_are_unchanged():
    changed = [name for name, digest in FROZEN.items()
               if hashlib.sha256((MIGRATIONS / name).read_bytes()).hexdigest() != digest]
    assert not changed, (f"{changed} changed: an applied migration is frozen; undo the edit and write a new "
                         f"migration that changes the schema")


def test_every_migration_is_literal_sql_but_for_the_install_names():
    """No migration renders code at apply time (a later code change would change what it does)."""
    for path in sorted(MIGRATIONS.glob("*.sql")):
        named = set(re.findall(r"\{(\w+)\}", path.read_text(encoding="utf-8")))
        assert named <= _PLACEHOLDERS, f"{path.name} fills in {sorted(named - _PLACEHOLDERS)} from code"


def test_the_migrations_give_every_column_the_kinds_table_and_rollups_name():
    """A kind added to kinds.py without its migration fails here: run the command this prints."""
    pending = pending_for_fresh_install()
    assert not pending, ("the migrations lack columns the code wants; write them with "
                         "`python scripts/kinds_migration.py NNN name`:\n" + ";\n".join(pending))
