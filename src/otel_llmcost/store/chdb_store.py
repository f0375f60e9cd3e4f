"""Embedded store: chDB (ClickHouse in-process), data kept in a directory. The default backend."""

from __future__ import annotations

import ctypes
import json
import os
import tempfile
import threading
import time
from collections.abc import Sequence
from typing import Any

from otel_llmcost.errors import StoreError, StoreFullError
from otel_llmcost.store.failures import error_code, is_data_error_code
from otel_llmcost.store.native import native_block
from otel_llmcost.store.policies import connection_string
from otel_llmcost.store.quiet import engine_errors_held_back
from otel_llmcost.store.schema import dedup_settings
from otel_llmcost.store.writes import StoreWrites

_NOT_ENOUGH_SPACE = 243  # ClickHouse's error code when a disk cannot reserve room for a part
_PARTS_RESERVE_BYTES = 4 * 1024 * 1024  # beyond twice the batch: part files, marks, checksums
_TRIM_EVERY_SECONDS = 1.0  # while writing, freed heap goes back to the system this often (a trim: 1-20 ms)
_TRIM_AFTER_WRITES_SECONDS = 10.0  # and this long after the last INSERT (background merges free theirs later)
# Decimals as strings keep money exact through JSON; plain numbers for 64-bit integers.
_JSON_SETTINGS = "SET output_format_json_quote_decimals = 1, output_format_json_quote_64bit_integers = 0"


#: Why the embedded store cannot open without chDB, and what to do (chdb-core is the `embedded` extra).
CHDB_MISSING = ("the embedded store needs chDB, which is not installed: pip install 'otel-llmcost[embedded]'"
                " (or use a ClickHouse server: --clickhouse URL; or store nothing: serve --store none)")


def import_chdb() -> Any:
    """The chdb module, imported only when the embedded engine is used: the server backend and the in-app SDK
    never load the 500 MB engine, and may run without it. StoreError (CHDB_MISSING) when it is not installed."""
    try:
        import chdb
    except ImportError as exc:
        raise StoreError(CHDB_MISSING, retryable=False) from exc
    return chdb


class ChdbStore(StoreWrites):
    def __init__(self, path: str, database: str, read_only: bool = False):
        chdb = import_chdb()
        os.makedirs(path, exist_ok=True)
        try:
            # Every tenant (*all*): materialized views and rollup rebuilds read through the row policies.
            with engine_errors_held_back():
                self._conn = chdb.connect(connection_string(path, database, read_only=False, all_tenants=True))
        except RuntimeError as exc:
            raise StoreError(
                f"cannot open the embedded store at {path}: another process (a running receiver?) holds it"
            ) from exc
        self._chdb_error = chdb.ChdbError
        self._trimmer = HeapTrimmer()
        self._path = path
        self.database = database
        self._run(_JSON_SETTINGS)
        if read_only:
            self._run("SET readonly = 2")  # 2: reads only, but query settings may still change

    def insert_columns(self, table: str, column_types: Sequence[tuple[str, str]], columns: list[list], /,
                       dedup_token: str = "") -> None:
        """One INSERT of a columnar batch into database.table; with `dedup_token`, a repeat of it is dropped
        by the table and by every materialized view's target (each keeps a dedup window)."""
        self.insert_native(table, [name for name, _ in column_types], native_block(column_types, columns),
                           dedup_token)

    def insert_native(self, table: str, names: Sequence[str], payload: bytes, dedup_token: str = "") -> None:
        """One INSERT of a Native block (native_block(), encoded here or by an ingest worker)."""
        self._check_space(len(payload))
        fd, batch_file = tempfile.mkstemp(prefix="batch-", suffix=".native", dir=self._path)
        try:
            try:
                with os.fdopen(fd, "wb") as out:
                    out.write(payload)
            except OSError as exc:  # the data directory is full or failing: the store's state, not the rows
                raise StoreFullError(f"cannot write the batch file: {exc}") from exc
            settings = f" SETTINGS {dedup_settings(dedup_token)}" if dedup_token else ""
            self._run(f"INSERT INTO {self.database}.{table} ({', '.join(names)}){settings}"
                      f" SELECT * FROM file('{batch_file}', 'Native')")
        finally:
            os.unlink(batch_file)
            self._trimmer.busy()

    def _check_space(self, payload_bytes: int) -> None:
        """Refuse an INSERT, retryably, while the parts' disk (store/, when an operator mounted it apart from
        the data directory) lacks room for the batch. chDB 26.9 checks only the data directory's disk (a
        full one is its retryable NOT_ENOUGH_SPACE): with the parts' filesystem full, it reports the INSERT
        done while writing empty parts, detached as broken at the next open, after the spool had been
        released (bench/faults.py store-full-chdb-parts)."""
        parts = os.path.join(self._path, "store")
        try:
            if os.stat(parts).st_dev == os.stat(self._path).st_dev:
                return
            status = os.statvfs(parts)
        except FileNotFoundError:  # no table made yet
            return
        free, needed = status.f_bavail * status.f_frsize, _PARTS_RESERVE_BYTES + 2 * payload_bytes
        if free < needed:
            raise StoreFullError(f"not enough free disk in {parts}: {free} bytes, a batch needs {needed}")

    def command(self, sql: str, params: dict[str, Any] | None = None, /) -> None:
        """A statement that returns nothing (DDL, ALTER, INSERT ... SELECT)."""
        self._run(sql, "CSV", {k: param_text(v) for k, v in (params or {}).items()})

    def query(self, sql: str, params: dict[str, Any] | None = None, /) -> list[dict[str, Any]]:
        """Rows as dicts; Decimals come back as strings so no float ever touches money."""
        text = self._run(sql, "JSONEachRow", {k: param_text(v) for k, v in (params or {}).items()})
        return [json.loads(line) for line in text.splitlines() if line]

    def close(self) -> None:
        self._trimmer.stop()
        self._conn.close()

    def _run(self, sql: str, fmt: str = "CSV", params: dict[str, str] | None = None) -> str:
        try:
            result = self._conn.query(sql, fmt, params=params or None)
        except (self._chdb_error, RuntimeError) as exc:
            code = error_code(str(exc))
            if code == _NOT_ENOUGH_SPACE:
                raise StoreFullError(_first_line(str(exc))) from exc
            raise StoreError(_first_line(str(exc)), not is_data_error_code(code)) from exc
        return result.bytes().decode("utf-8") if hasattr(result, "bytes") else str(result or "")


class HeapTrimmer:
    """Gives freed heap back to the system every _TRIM_EVERY_SECONDS while the store is written to. chDB
    allocates with the process's malloc (glibc), as Python does beyond its small objects: what an INSERT,
    a background merge or a flush's rows held at their peak (hundreds of MB) stays in malloc's per-thread
    arenas once freed and counts in the receiver's RSS until trimmed. Half mix at the 256 MiB buffer cap,
    trimmed from outside (gdb): RSS 1,089 -> 891 MB and 1,002 -> 867 MB (NOTES-17)."""

    def __init__(self) -> None:
        self._busy_until = 0.0
        self._stop = threading.Event()
        if _MALLOC_TRIM is not None:
            threading.Thread(target=self._run, name="llmcost-heap-trim", daemon=True).start()

    def busy(self) -> None:
        """The store was just written to: trim for a while."""
        self._busy_until = time.monotonic() + _TRIM_AFTER_WRITES_SECONDS

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        while not self._stop.wait(_TRIM_EVERY_SECONDS):
            if time.monotonic() < self._busy_until:
                _MALLOC_TRIM(0)  # ctypes lets go of the GIL meanwhile


def _malloc_trim() -> Any:
    """glibc's malloc_trim, or None (another C library: nothing to trim)."""
    return getattr(ctypes.CDLL(None), "malloc_trim", None)


_MALLOC_TRIM = _malloc_trim()


def param_text(value: Any) -> str:
    """chDB takes query parameters in ClickHouse's escaped text form: arrays of strings need quoting, and
    a backslash, tab or line break in a string its escape (a multi-line statement as a String parameter);
    None is NULL (for a Nullable parameter)."""
    if value is None:
        return "\\N"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join("'" + str(v).replace("\\", "\\\\").replace("'", "\\'") + "'" for v in value) + "]"
    if isinstance(value, str):
        return value.translate(_ESCAPES)
    return str(value)


_ESCAPES = str.maketrans({"\\": "\\\\", "\n": "\\n", "\t": "\\t", "\r": "\\r"})


def _first_line(message: str) -> str:
    line = message.strip().splitlines()[0] if message.strip() else "unknown chDB error"
    return line.replace("Code: ", "ClickHouse error ", 1)
