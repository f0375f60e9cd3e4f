"""How many queries run at once: a cap for the listener and a smaller one per key, so one key (one tenant,
one dashboard, one script) can never take every slot. A request waits for both up to queue_seconds."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from otel_llmcost.query.errors import QueryError

TOO_MANY_SIMULTANEOUS_QUERIES = 202


class Slots:
    def __init__(self, total: int, per_key: int, queue_seconds: float):
        self._total = threading.BoundedSemaphore(total)
        self.per_key = per_key
        self.queue_seconds = queue_seconds
        self._lock = threading.Lock()
        self._keys: dict[str, tuple[threading.BoundedSemaphore, int]] = {}  # key -> (its slots, users)
        self.running = 0  # queries holding a slot now

    def acquire(self, key: str) -> Callable[[], None]:
        """Hold a slot of `key` and one of the listener; the returned function gives both back (once)."""
        deadline = time.monotonic() + self.queue_seconds
        own = self._key_slots(key)
        if not own.acquire(timeout=self.queue_seconds):
            self._forget(key)
            raise QueryError(TOO_MANY_SIMULTANEOUS_QUERIES, f"this key already runs {self.per_key} queries "
                             "(query.max_concurrent_queries_per_key); retry shortly")
        if not self._total.acquire(timeout=max(0.0, deadline - time.monotonic())):
            own.release()
            self._forget(key)
            raise QueryError(TOO_MANY_SIMULTANEOUS_QUERIES, "Too many simultaneous queries; retry shortly")
        with self._lock:
            self.running += 1
        held = [True]

        def release() -> None:
            with self._lock:
                if not held[0]:
                    return
                held[0] = False
                self.running -= 1
            self._total.release()
            own.release()
            self._forget(key)

        return release

    def _key_slots(self, key: str) -> threading.BoundedSemaphore:
        with self._lock:
            slots, users = self._keys.get(key) or (threading.BoundedSemaphore(self.per_key), 0)
            self._keys[key] = (slots, users + 1)
            return slots

    def _forget(self, key: str) -> None:
        """Keys come and go: a key's semaphore lives only while a request of it does."""
        with self._lock:
            slots, users = self._keys[key]
            if users == 1:
                del self._keys[key]
            else:
                self._keys[key] = (slots, users - 1)
