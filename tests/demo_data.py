"""A real receiver loaded by `otel-llmcost demo` (the SDK's OTLP exporter), shared by a test module."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path

from conftest import FAST_CONFIG, Receiver, run_cli
from otel_llmcost.store.remote import RemoteStore
from otel_llmcost.store.rollups import ROLLUPS

SPIKED = "summarize"
#: One week of history, 150 requests a day: enough for every panel, quick to send.
DEMO_ARGS = ("--backfill-days", "7", "--per-day", "150", "--duration", "0", "--seed", "20261201")


@contextmanager
def demo_receiver(data_dir: Path, *extra_args: str,
                  config: dict | None = None) -> Iterator[tuple[Receiver, RemoteStore]]:
    """A receiver holding the demo's traffic (all of it stored before this yields) and a reader on it."""
    receiver = Receiver(data_dir, {**FAST_CONFIG, **(config or {})}).start()
    try:
        sent = run_cli("demo", "--endpoint", f"http://127.0.0.1:{receiver.http_port}", *DEMO_ARGS, *extra_args)
        requests, spans = map(int, re.search(r"sent (\d+) requests \((\d+) spans\)", sent.stderr).groups())
        store = RemoteStore.of_running_receiver(str(data_dir), "llmcost")  # as `otel-llmcost sql` reads it
        wait_for_rows(store, spans - requests)  # one server span per request, the rest are LLM calls
        yield receiver, store
    finally:
        receiver.stop()


#: The calls llm_usage and each rollup that counts all calls hold: the views fill the rollups after
#: llm_usage, so a reader can be between them.
_STORED = "SELECT (SELECT count() FROM llmcost.llm_usage) AS llm_usage, " + ", ".join(
    f"(SELECT sum(calls) FROM llmcost.{rollup.table}) AS {rollup.table}" for rollup in ROLLUPS
    if not rollup.only and "calls" in {name for name, _, _ in rollup.measures})


def wait_for_rows(store: RemoteStore, calls: int, timeout: float = 60.0) -> None:
    """Until llm_usage and every rollup hold `calls` calls."""
    deadline = time.monotonic() + timeout
    while min((stored := store.query(_STORED)[0]).values()) < calls:
        assert time.monotonic() < deadline, f"of {calls} calls stored: {stored}"
        time.sleep(0.2)
    assert set(stored.values()) == {calls}, stored


def hour_range(now: datetime | None = None, days: int = 8) -> tuple[datetime, datetime]:
    """A dashboard range on whole hours holding the whole demo: the buckets are easy to count."""
    end = (now or datetime.now(timezone.utc)).replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    return end - timedelta(days=days + 1), end
