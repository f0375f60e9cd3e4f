"""The receiver's store while it opens on a thread of its own, after the receivers listen.

An acknowledgement needs only the spool (ingest/spool.py): spans acknowledged before the store is open wait
in the spool and the trace buffer, and are written once it is; a kill -9 meanwhile leaves them in the
spool, replayed at the next start. So `serve` answers exports from the start, and the slow part of a start
(chDB's engine loaded and opened, migrations, the budget ledger seeded from the rollups, chargeback terms
stored) runs beside them: `open` does all of it, and every use of the store waits until it is done. When
opening fails, every use raises the retryable StoreError that says why (the spool keeps the rows) and
`serve` stops.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from otel_llmcost.errors import StoreError
from otel_llmcost.model import UsageRow

if TYPE_CHECKING:
    from otel_llmcost.store import UsageStore
    from otel_llmcost.store.migrations import SchemaOptions

logger = logging.getLogger(__name__)

OPENING, OPEN, FAILED = "opening", "open", "failed"


class OpeningStore:
    """A UsageStore that `open` (the store opened, migrated and made ready by the caller) provides later."""

    def __init__(self, database: str, open_store: Callable[[], UsageStore], description: str):
        self.database = database
        self._open = open_store
        self._description = description  # for the log: "chdb:<path>", "clickhouse", "none"
        self._done = threading.Event()
        self._store: UsageStore | None = None
        self.error: str | None = None  # why opening failed
        self.open_seconds = 0.0  # how long opening took
        self._thread = threading.Thread(target=self._run, name="llmcost-store-open", daemon=True)

    def start(self) -> None:
        self._thread.start()

    @property
    def state(self) -> str:
        """OPENING, OPEN or FAILED."""
        if not self._done.is_set():
            return OPENING
        return OPEN if self._store is not None else FAILED

    def _run(self) -> None:
        started = time.perf_counter()
        try:
            self._store = self._open()
        except Exception as exc:  # a StoreError, a ConfigError from the chargeback terms, a bug: all stop serve
            if not isinstance(exc, StoreError):
                logger.exception("the store could not be opened")
            self.error = str(exc) or type(exc).__name__
        self.open_seconds = time.perf_counter() - started
        self._done.set()
        if self._store is not None:
            logger.info("store %s open and ready for inserts, %.2f s after the receivers", self._description,
                        self.open_seconds)

    def wait_open(self, timeout: float | None = None) -> UsageStore:
        """The open store, once it is; StoreError (retryable) when opening failed or took over `timeout`."""
        if not self._done.wait(timeout):
            raise StoreError(f"the store is still opening after {timeout:.0f} s")
        if self._store is None:
            raise StoreError(f"the store could not be opened: {self.error}")
        return self._store

    def insert_usage(self, rows: Sequence[UsageRow], /) -> None:
        self.wait_open().insert_usage(rows)

    def insert_traces(self, columns: list[list], /) -> None:
        self.wait_open().insert_traces(columns)

    def insert_columns(self, table: str, column_types: Sequence[tuple[str, str]], columns: list[list], /,
                       dedup_token: str = "") -> None:
        self.wait_open().insert_columns(table, column_types, columns, dedup_token)

    def insert_native(self, table: str, names: Sequence[str], payload: bytes, dedup_token: str = "") -> None:
        """The embedded store's Native blocks (flush/handoff.py: ingest workers' batches)."""
        store: Any = self.wait_open()
        store.insert_native(table, names, payload, dedup_token)

    def query(self, sql: str, params: dict[str, Any] | None = None, /) -> list[dict[str, Any]]:
        return self.wait_open().query(sql, params)

    def command(self, sql: str, params: dict[str, Any] | None = None, /) -> None:
        self.wait_open().command(sql, params)

    def ensure_schema(self, options: SchemaOptions | None = None) -> None:
        self.wait_open().ensure_schema(options)

    def wait_done(self) -> None:
        """Until opening has succeeded or failed."""
        self._done.wait()

    def close(self) -> None:
        """Closes the store once it is open (an open in progress is waited for); nothing when it failed."""
        self._done.wait()
        if self._store is not None:
            self._store.close()
