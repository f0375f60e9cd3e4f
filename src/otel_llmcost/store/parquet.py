"""CSV to Parquet with chDB's own writer (FORMAT Parquet), in a child process: chDB runs one engine per
process, and the caller may hold the store's (or the store may be a server)."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile

from otel_llmcost.errors import StoreError
from otel_llmcost.store.chdb_store import import_chdb


def csv_to_parquet(csv_text: str, columns: tuple[tuple[str, str], ...], out_path: str) -> None:
    """Write `csv_text` (with a header; empty cells are nulls) as Parquet, typed by `columns`."""
    structure = ", ".join(f"{name} {ch_type}" for name, ch_type in columns)
    with tempfile.TemporaryDirectory(prefix="llmcost-parquet-") as work:
        source = os.path.join(work, "rows.csv")
        with open(source, "w", encoding="utf-8") as out:
            out.write(csv_text)
        done = subprocess.run([sys.executable, "-m", "otel_llmcost.store.parquet", source, structure,
                               os.path.abspath(out_path)], capture_output=True, text=True, timeout=600, check=False)
    if done.returncode != 0:
        raise StoreError(f"cannot write {out_path}: {done.stderr.strip().splitlines()[-1:] or 'chDB failed'}")


def _convert(source: str, structure: str, target: str) -> None:
    chdb = import_chdb()

    session = chdb.connect(":memory:")
    try:
        result = session.query(
            f"SELECT * FROM file({_quote(source)}, 'CSVWithNames', {_quote(structure)})"
            " SETTINGS date_time_input_format = 'best_effort', input_format_csv_empty_as_default = 1", "Parquet")
        with open(target, "wb") as out:
            out.write(result.bytes())
    finally:
        session.close()


def _quote(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


if __name__ == "__main__":
    _convert(*sys.argv[1:4])
