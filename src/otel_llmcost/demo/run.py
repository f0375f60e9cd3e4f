"""Send the demo workload: backfilled past days first (past start times), then live traffic.

Live traffic follows the backfilled days' own daily pattern (`per_day` requests a day, busier in working hours,
UTC): the same process the backfill draws from, paced by the clock, so the days it adds look like the days
before and the anomaly rule finds nothing in them but a `--spike`. An explicit `rate` sends a flat stream
instead (without backfilled days there is no pattern: 2 a second unless told), which a long run at a rate
above the pattern's turns into an anomaly of every feature.
"""

from __future__ import annotations

import random
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import TextIO

from otel_llmcost.demo.workload import backfill_starts, plan_request


@dataclass(frozen=True)
class DemoPlan:
    protocol: str
    endpoint: str
    rate: float | None  # live requests per second; None: the backfilled daily pattern (2/s without backfill)
    duration: float  # seconds of live traffic; 0 = none, inf = until interrupted
    backfill_days: int
    per_day: int  # requests per day of the daily pattern (backfilled, and live unless `rate`)
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
    interrupted: bool  # stopped (Ctrl-C): what was sent so far was still flushed


@dataclass(frozen=True)
class Clock:
    """What the live traffic waits on: the wall clock, or a simulated one (tests run days of it at once)."""

    now: Callable[[], datetime] = lambda: datetime.now(timezone.utc)
    sleep: Callable[[float], object] = time.sleep  # the CLI's waits end at Ctrl-C (run_demo: stop.wait)


DEFAULT_RATE = 2.0  # live requests per second without a pattern to follow (no backfilled days)


def run_demo(plan: DemoPlan, now: datetime | None = None, out: TextIO = sys.stderr,
             clock: Clock | None = None, stop: threading.Event | None = None) -> DemoResult:
    """Send the plan's traffic until it is done or `stop` is set (cli/demo.py sets it on Ctrl-C); the spans
    already made are sent either way. The wall clock's waits end as soon as `stop` is set."""
    from otel_llmcost.demo.spans import Emitter  # needs the SDK; imported only when the demo runs

    rng = random.Random(plan.seed)
    stop = stop or threading.Event()
    clock = clock or Clock(sleep=stop.wait)
    now = now or clock.now()
    spike_from = today_start(now)
    emitter = Emitter(plan.protocol, plan.endpoint)
    requests = spans = 0
    try:
        if plan.backfill_days:
            starts = backfill_starts(rng, spike_from - timedelta(days=plan.backfill_days), now, plan.per_day)
            for start in _progress(starts, len(starts), f"backfill {plan.backfill_days} days", out, stop):
                requests += 1
                spans += emitter.emit(plan_request(rng, start, requests, plan.spike if start >= spike_from else None))
        if plan.duration and not stop.is_set():
            rate = plan.rate or (None if plan.backfill_days else DEFAULT_RATE)
            total = _live_total(rate, plan.duration)
            live = (_pattern_starts(rng, plan.per_day, plan.duration, clock) if rate is None
                    else _live_starts(rng, rate, plan.duration, total, clock))
            for start in _progress(live, total, "live", out, stop):
                requests += 1
                spans += emitter.emit(plan_request(rng, start, requests, plan.spike))
    finally:
        emitter.shutdown()
    return DemoResult(requests, spans, emitter.refused, stop.is_set())


def _live_starts(rng: random.Random, rate: float, duration: float, limit: int | None,
                 clock: Clock) -> Iterable[datetime]:
    """Now, then again after exponential gaps of mean 1/rate (a Poisson stream), for `duration` seconds and
    at most `limit` requests (the progress bar's total: a Poisson stream may run ahead of rate x duration)."""
    began, sent = clock.now(), 0
    deadline = began + timedelta(seconds=duration) if duration != float("inf") else None
    while (deadline is None or clock.now() < deadline) and (limit is None or sent < limit):
        yield clock.now()
        sent += 1
        left = (deadline - clock.now()).total_seconds() if deadline else float("inf")
        clock.sleep(min(rng.expovariate(rate), max(0.0, left)))


def _pattern_starts(rng: random.Random, per_day: int, duration: float, clock: Clock) -> Iterator[datetime]:
    """The daily pattern's start times from now on, for `duration` seconds, each sent when the clock reaches
    it: hour by hour, drawn as backfill_starts draws the past ones."""
    since = clock.now()
    deadline = since + timedelta(seconds=duration) if duration != float("inf") else None
    while deadline is None or since < deadline:
        until = since.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
        if deadline is not None:
            until = min(until, deadline)
        for start in backfill_starts(rng, since, until, per_day):
            wait = (start - clock.now()).total_seconds()
            if wait > 0:
                clock.sleep(wait)
            yield clock.now()
        wait = (until - clock.now()).total_seconds()
        if wait > 0:
            clock.sleep(wait)
        since = until


def _live_total(rate: float | None, duration: float) -> int | None:
    """The progress bar's total: known for a flat rate over a finite duration only."""
    return None if rate is None or duration == float("inf") else max(1, round(rate * duration))


def _progress(items: Iterable[datetime], total: int | None, label: str, out: TextIO,
              stop: threading.Event) -> Iterator[datetime]:
    """Yields the items until `stop` is set, drawing `label [#####.....] 50% 120/240` on `out` as they go."""
    redraw = out.isatty()
    shown, drawn, count = -1, 0, 0
    for item in items:
        if stop.is_set():
            break
        count += 1
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
