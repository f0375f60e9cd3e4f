"""Send the demo workload: backfilled past days first (past start times), then live traffic at a rate."""

from __future__ import annotations

import random
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import TextIO

from otel_llmcost.demo.workload import backfill_starts, plan_request


@dataclass(frozen=True)
class DemoPlan:
    protocol: str
    endpoint: str
    rate: float  # live requests per second
    duration: float  # seconds of live traffic; 0 = none, inf = until interrupted
    backfill_days: int
    per_day: int  # backfilled requests per day
    spike: str | None
    seed: int | None


def today_start(now: datetime) -> datetime:
    """Where "today" starts for the spike: the 24 hourly buckets ending with the current one, the window
    the anomaly rule compares with the days before (alerts/queries.py), so it fires at any hour."""
    return now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=23)


@dataclass(frozen=True)
class DemoResult:
    requests: int
    spans: int
    refused: int  # spans the endpoint did not accept
    interrupted: bool  # stopped by Ctrl-C: what was sent so far was still flushed


def run_demo(plan: DemoPlan, now: datetime | None = None, out: TextIO = sys.stderr) -> DemoResult:
    """Send the plan's traffic; Ctrl-C stops it (the spans already made are still sent)."""
    from otel_llmcost.demo.spans import Emitter  # needs the SDK; imported only when the demo runs

    rng = random.Random(plan.seed)
    now = now or datetime.now(timezone.utc)
    spike_from = today_start(now)
    emitter = Emitter(plan.protocol, plan.endpoint)
    requests = spans = 0
    interrupted = False
    try:
        if plan.backfill_days:
            starts = backfill_starts(rng, spike_from - timedelta(days=plan.backfill_days), now, plan.per_day)
            for start in _progress(starts, len(starts), f"backfill {plan.backfill_days} days", out):
                requests += 1
                spans += emitter.emit(plan_request(rng, start, requests, plan.spike if start >= spike_from else None))
        if plan.duration:
            total = _live_total(plan)
            for start in _progress(_live_starts(rng, plan.rate, plan.duration, total), total, "live", out):
                requests += 1
                spans += emitter.emit(plan_request(rng, start, requests, plan.spike))
    except KeyboardInterrupt:
        interrupted = True
        out.write("\n")
    finally:
        emitter.shutdown()
    return DemoResult(requests, spans, emitter.refused, interrupted)


def _live_starts(rng: random.Random, rate: float, duration: float, limit: int | None) -> Iterable[datetime]:
    """Now, then again after exponential gaps of mean 1/rate (a Poisson stream), for `duration` seconds and
    at most `limit` requests (the progress bar's total: a Poisson stream may run ahead of rate x duration)."""
    deadline, sent = time.monotonic() + duration, 0
    while time.monotonic() < deadline and (limit is None or sent < limit):
        yield datetime.now(timezone.utc)
        sent += 1
        time.sleep(min(rng.expovariate(rate), max(0.0, deadline - time.monotonic())))


def _live_total(plan: DemoPlan) -> int | None:
    return None if plan.duration == float("inf") else max(1, round(plan.rate * plan.duration))


def _progress(items: Iterable[datetime], total: int | None, label: str, out: TextIO) -> Iterable[datetime]:
    """Yields the items, drawing `label [#####.....] 50% 120/240` on `out` as they go."""
    redraw = out.isatty()
    shown, drawn, count = -1, 0, 0
    for count, item in enumerate(items, 1):
        yield item
        step = count * 20 // total if total else count // 100
        if step != shown:
            shown, drawn = step, count
            _draw(out, label, count, total, redraw)
    if count != drawn:
        _draw(out, label, count, total, redraw)
    out.write("\n" if redraw else "")


def _draw(out: TextIO, label: str, count: int, total: int | None, redraw: bool) -> None:
    if total:
        done = min(20, count * 20 // total)
        percent = min(100, count * 100 // total)
        line = f"{label} [{'#' * done}{'.' * (20 - done)}] {percent:3d}% {count}/{total} requests"
    else:
        line = f"{label}: {count} requests"
    out.write(("\r" + line) if redraw else line + "\n")
    out.flush()
