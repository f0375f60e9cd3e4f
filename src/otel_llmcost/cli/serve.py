"""`otel-llmcost serve`: run both OTLP receivers until SIGTERM/SIGINT, then flush everything and exit 0."""

from __future__ import annotations

import argparse
import gc
import json
import logging
import signal
import time
from pathlib import Path

from otel_llmcost.config import Settings
from otel_llmcost.pipeline import Pipeline
from otel_llmcost.pricing import load_price_book
from otel_llmcost.receive.grpc_server import GrpcReceiver
from otel_llmcost.receive.http_server import HttpReceiver
from otel_llmcost.store import open_store
from otel_llmcost.store.migrations import SchemaOptions
from otel_llmcost.store.remote import RECEIVER_FILE

logger = logging.getLogger("otel_llmcost")
_SIGNAL_POLL_SECONDS = 0.1


def run(args: argparse.Namespace, settings: Settings) -> int:
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    price_book = load_price_book(settings.pricing.price_books)
    store = open_store(settings)
    store.ensure_schema(SchemaOptions.of(settings))
    pipeline = Pipeline(settings, store, price_book)
    pipeline.start()
    receiver = settings.receiver
    grpc_receiver = GrpcReceiver(pipeline, receiver.grpc_host, receiver.grpc_port, receiver.max_request_bytes)
    # A second, read-only handle on the same store answers `otel-llmcost sql/stats` while we run.
    query_store = open_store(settings, read_only=True)
    http_receiver = HttpReceiver(
        pipeline, receiver.http_host, receiver.http_port, receiver.max_request_bytes, query_store
    )
    grpc_receiver.start()
    http_receiver.start()

    # The handler only appends to a list: Event.set() takes the event's lock, which the main thread may hold
    # inside Event.wait() when the signal lands, and the handler runs on that same thread: a deadlock.
    signals: list[int] = []
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda signum, _frame: signals.append(signum))
    ready = {
        "event": "ready",
        "grpc_port": grpc_receiver.port,
        "http_port": http_receiver.port,
        "store": settings.store.clickhouse and "clickhouse" or f"chdb:{settings.chdb_path}",
        "price_book": price_book.version,
    }
    announcement = Path(settings.data_dir) / RECEIVER_FILE
    announcement.write_text(json.dumps(ready), encoding="utf-8")
    print(json.dumps(ready), flush=True)
    tune_gc()
    while not signals:
        time.sleep(_SIGNAL_POLL_SECONDS)

    logger.info("stopping: draining receivers, writing every buffered trace")
    http_receiver.stop()
    grpc_receiver.stop()
    pipeline.close()
    announcement.unlink(missing_ok=True)
    query_store.close()
    store.close()
    logger.info("stopped after writing %d rows", pipeline.rows_written)
    return 0


def tune_gc() -> None:
    """Once started: long-lived startup objects (price book, chDB, grpc) need no more scanning, and the hot
    path makes many short-lived small objects: fewer, later collections cost less per span
    (bench/throughput.py applies the same)."""
    gc.freeze()
    gc.set_threshold(50_000, 50, 100)
