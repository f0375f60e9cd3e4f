"""`otel-llmcost demo`: send the demo workload (otel_llmcost.demo) to a receiver or Collector."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from otel_llmcost.demo.run import DemoPlan, run_demo
from otel_llmcost.demo.workload import FEATURES
from otel_llmcost.errors import ConfigError

DEFAULT_ENDPOINTS = {"http": "http://localhost:4318", "grpc": "http://localhost:4317"}


def add_command(commands) -> None:
    demo = commands.add_parser("demo", help="send realistic demo LLM traffic over OTLP (needs the [demo] extra)")
    demo.add_argument("--endpoint", help="OTLP endpoint (default http://localhost:4318, gRPC http://localhost:4317)")
    demo.add_argument("--protocol", choices=["http", "grpc"], default="http", help="OTLP/HTTP or OTLP/gRPC")
    demo.add_argument("--rate", type=float,
                      help="live requests per second, flat (default: the backfilled days' daily pattern, so the "
                           "anomaly rule finds nothing but a --spike; 2 without --backfill-days)")
    demo.add_argument("--duration", type=float, default=60.0,
                      help="seconds of live traffic after the backfill (default 60; 0 = none, inf = until Ctrl-C)")
    demo.add_argument("--backfill-days", type=int, default=0, metavar="N",
                      help="first send N past days (spans with past start times), plus today so far")
    demo.add_argument("--per-day", type=int, default=300, metavar="N",
                      help="requests per day of the daily pattern, backfilled and live (300)")
    demo.add_argument("--spike", choices=[feature.name for feature in FEATURES],
                      help="this feature's prompts are 10x longer today (trips the anomaly alert)")
    demo.add_argument("--seed", type=int, help="random seed, for the same traffic every run")
    demo.set_defaults(run=run, needs_settings=False)


def run(args: argparse.Namespace, settings: None) -> int:
    if (args.rate is not None and args.rate <= 0) or args.duration < 0 or args.backfill_days < 0 or args.per_day < 1:
        raise ConfigError("--rate and --per-day must be positive, --duration and --backfill-days not negative")
    plan = DemoPlan(
        protocol=args.protocol, endpoint=args.endpoint or DEFAULT_ENDPOINTS[args.protocol], rate=args.rate,
        duration=args.duration, backfill_days=args.backfill_days, per_day=args.per_day, spike=args.spike,
        seed=args.seed,
    )
    stop = threading.Event()
    try:
        with _ctrl_c_sets(stop):
            result = run_demo(plan, stop=stop)
    except ImportError as exc:
        raise ConfigError(str(exc)) from exc
    print(("interrupted: " if result.interrupted else "")
          + f"sent {result.requests} requests ({result.spans} spans) over OTLP/{plan.protocol.upper()} to "
          f"{plan.endpoint}" + (f", feature {plan.spike!r} spiked today" if plan.spike else ""), file=sys.stderr)
    if result.refused:
        print(f"otel-llmcost demo: error: {result.refused} of the {result.spans} spans were not accepted by "
              f"{plan.endpoint} (the exporter's errors are above)", file=sys.stderr)
        return 1
    return 130 if result.interrupted else 0


@contextmanager
def _ctrl_c_sets(stop: threading.Event) -> Iterator[None]:
    """Ctrl-C (SIGINT) sets `stop`, which the send loop checks: a KeyboardInterrupt would be raised wherever the
    main thread happens to be, inside the SDK or a library that may not let it through. The first Ctrl-C puts
    the previous handler back, so a second one interrupts the final flush. A demo started with SIGINT ignored
    (in the background by a shell) keeps ignoring it; one started with SIGINT blocked (a signal mask is inherited:
    a parent that ran chDB passes SIGPIPE blocked, for one) has it unblocked."""
    previous = signal.getsignal(signal.SIGINT)
    if previous in (signal.SIG_IGN, None):
        yield
        return
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})

    def on_ctrl_c(signum: int, frame: object) -> None:
        stop.set()
        signal.signal(signal.SIGINT, previous)

    signal.signal(signal.SIGINT, on_ctrl_c)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
