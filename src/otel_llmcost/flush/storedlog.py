"""What was stored, in the log: a line for the first insert, then one per interval and one at close (a line
per insert was hundreds of lines an hour): rows, inserts, dead letters, and the largest lag from a call's
start to its insert."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from datetime import datetime, timezone

from otel_llmcost.model import UsageRow

logger = logging.getLogger(__name__)


class StoredLog:
    def __init__(self, interval_seconds: float = 60.0):
        self._interval = interval_seconds
        self._lock = threading.Lock()
        self._logged_at: float | None = None
        self._rows = self._inserts = self._rejected = 0
        self._lag = 0.0

    def add(self, rows: Sequence[UsageRow], rejected: int) -> None:
        """One stored batch."""
        if not (rows or rejected):
            return
        lag = (datetime.now(timezone.utc) - min(row.ts for row in rows)).total_seconds() if rows else 0.0
        with self._lock:
            self._rows, self._inserts = self._rows + len(rows), self._inserts + 1
            self._rejected, self._lag = self._rejected + rejected, max(self._lag, lag)
            if self._logged_at is None or time.monotonic() - self._logged_at >= self._interval:
                self._log()

    def close(self) -> None:
        with self._lock:
            if self._inserts:
                self._log()

    def _log(self) -> None:
        since = "" if self._logged_at is None else f" in the last {time.monotonic() - self._logged_at:.0f}s"
        logger.info("stored %d rows in %d inserts%s (%d dead-lettered); largest lag %.1fs", self._rows,
                    self._inserts, since, self._rejected, self._lag)
        self._logged_at = time.monotonic()
        self._rows = self._inserts = self._rejected = 0
        self._lag = 0.0
