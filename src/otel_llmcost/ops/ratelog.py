"""Warnings that cannot flood the log: one line per key per interval, the next one counting those held back.

A poison export re-sent in a loop, or a stream of traces without their root, is then a line a minute
instead of a line per span.
"""

from __future__ import annotations

import logging
import threading
import time

_MAX_KEYS = 1024  # distinct keys remembered; beyond, the oldest are forgotten (and may log again)


class RateLimitedLog:
    def __init__(self, logger: logging.Logger, interval_seconds: float = 60.0):
        self._logger = logger
        self._interval = interval_seconds
        self._lock = threading.Lock()
        self._last: dict[str, tuple[float, int]] = {}  # key -> (when last logged, held back since)

    def warn_rarely(self, key: str, message: str, *args: object) -> None:
        """Log `message % args` as a warning, unless `key` was logged less than the interval ago."""
        now = time.monotonic()
        with self._lock:
            last = self._last.get(key)
            if last is not None and now - last[0] < self._interval:
                self._last[key] = (last[0], last[1] + 1)
                return
            held_back = last[1] if last is not None else 0
            self._last.pop(key, None)
            self._last[key] = (now, 0)
            while len(self._last) > _MAX_KEYS:
                del self._last[next(iter(self._last))]
        if held_back:
            message += f" ({held_back} more like this in the last {self._interval:g}s)"
        self._logger.warning(message, *args)
