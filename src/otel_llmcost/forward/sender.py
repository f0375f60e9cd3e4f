"""One destination's sender: a thread that reads the forward queue from the destination's cursor, sends
consecutive records of one signal as one export, and moves the cursor once the destination took it.

A failure worth retrying is retried with exponential backoff and full jitter (capped), for as long as it
takes: the queue's byte bound, not the sender, decides when old data goes. A batch the destination
refuses for good is counted and passed over, so it cannot block everything behind it.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from dataclasses import dataclass
from typing import Protocol

from otel_llmcost.forward.outbox import HOLD, PASS_LOGS, PASS_METRICS, Cursor, Record
from otel_llmcost.forward.transport import Refused, RetryLater, Transport
from otel_llmcost.ops.ratelog import RateLimitedLog

logger = logging.getLogger(__name__)
_FIRST_RETRY_SECONDS = 0.5
_IDLE_SECONDS = 0.5


class Queue(Protocol):
    """What a sender needs of the forward queue (forward.forwarder.Forwarder)."""

    def next_records(self, name: str, max_bytes: int) -> tuple[Cursor, list[Record]]: ...

    def delivered(self, name: str, end: Cursor) -> None: ...

    def still_at(self, name: str, start: Cursor) -> bool: ...


@dataclass(slots=True)
class SenderCounts:
    sent_items: int = 0  # spans, metric data points and log records the destination took
    sent_requests: int = 0
    failed_attempts: int = 0  # answered "later" or unreachable; retried
    refused_items: int = 0  # in batches the destination refused for good
    rejected_items: int = 0  # that the destination reported as rejected (partial success)
    last_success: float = 0.0  # unix time


def _signal(kind: int) -> int:
    return kind if kind in (PASS_METRICS, PASS_LOGS) else 0  # traces: passed and priced spans alike


class Sender:
    def __init__(self, transport: Transport, queue: Queue, max_batch_bytes: int, max_retry_delay: float):
        self.name = transport.destination.label
        self._transport = transport
        self._queue = queue
        self._max_batch_bytes = max_batch_bytes
        self._max_retry_delay = max_retry_delay
        self.counts = SenderCounts()
        self.wake = threading.Event()
        self._stop = threading.Event()
        self._log = RateLimitedLog(logger)
        self._thread = threading.Thread(target=self._run, name=f"llmcost-forward-{self.name}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self.wake.set()
        self._thread.join()
        self._transport.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                if not self._send_next():
                    self.wake.wait(_IDLE_SECONDS)
                    self.wake.clear()
            except Exception:  # the sender must outlive any one bad batch
                logger.exception("forwarding to %s failed", self.name)
                self._stop.wait(1.0)

    def _send_next(self) -> bool:
        """Send the next batch; False when there was nothing to send."""
        start, records = self._queue.next_records(self.name, self._max_batch_bytes)
        if not records:
            return False
        sent = [record for record in records if record.kind != HOLD]
        if sent:  # one export carries one signal: the records up to the first of another
            signal = _signal(sent[0].kind)
            cut = next((i for i, r in enumerate(records) if r.kind != HOLD and _signal(r.kind) != signal),
                       len(records))
            records = records[:cut]
        batch = [record for record in records if record.kind != HOLD]
        if batch and not self._deliver(start, batch):
            return True  # the cursor was moved past this batch (dropped for the byte bound), or stopping
        self._queue.delivered(self.name, records[-1].end)
        return True

    def _deliver(self, start: Cursor, batch: list[Record]) -> bool:
        body = b"".join(record.body for record in batch)  # concatenated requests: one request, merged
        items = sum(record.items for record in batch)
        attempt = 0
        while not self._stop.is_set():
            try:
                rejected, message = self._transport.send(batch[0].kind, body)
            except RetryLater as exc:
                self.counts.failed_attempts += 1
                delay = random.uniform(0, min(self._max_retry_delay, _FIRST_RETRY_SECONDS * 2 ** attempt))
                attempt += 1
                self._log.warn_rarely("retry", "forward to %s failed (attempt %d), retrying in %.1fs: %s",
                                      self.name, attempt, delay, exc)
                if self._stop.wait(delay) or not self._queue.still_at(self.name, start):
                    return False
                continue
            except Refused as exc:
                self.counts.refused_items += items
                self._log.warn_rarely("refused", "%s refused a batch of %d items for good, passed over: %s",
                                      self.name, items, exc)
                return True
            self.counts.sent_items += items
            self.counts.sent_requests += 1
            self.counts.last_success = time.time()
            if rejected:
                self.counts.rejected_items += rejected
                self._log.warn_rarely("rejected", "%s rejected %d of %d items: %s", self.name, rejected, items,
                                      message)
            return True
        return False
