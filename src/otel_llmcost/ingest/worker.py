"""One ingest worker process (with `receiver.workers` above 1): decode, extract, spool, trace buffer, rows
and flush for the traces routed to it (receive/route.py), as pipeline.Pipeline does in one process.

Its spool is its own directory, locked while it runs: a worker started again after a crash waits until
the one before it is really gone. With the embedded store, its batches go to the store's owner as Native
blocks (flush/handoff.py); with a ClickHouse server it inserts itself. It ignores SIGINT and SIGTERM (a
terminal's ^C or a service manager's stop reaches the whole process group: the owner stops its workers, after
their last flush) and stops when the owner says so, or at once when the owner is gone: what it acknowledged
is in its spool, replayed at the next start.

Requests from the owner: ("wire", id, body, key) a binary export as a client sent it, with its key's (id,
tenant) to bind; ("request", id, body) an export the owner decoded and checked already (OTLP/JSON,
events); ("stats", id); ("close", id).
Answers: (id, "ok" | "overloaded" | "undecodable" | "failed", value); first (0, "ready", spans replayed);
"close" is answered with the worker's last figures.
"""

from __future__ import annotations

import copyreg
import fcntl
import logging
import os
import pickle
import signal
import threading
import types
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest as PB2ExportTraceServiceRequest,
)

from otel_llmcost.config import Settings
from otel_llmcost.errors import DecodeError, OverloadedError
from otel_llmcost.flush.handoff import LinkedStore
from otel_llmcost.model import UsageRow
from otel_llmcost.ops.metrics import MeasuredStore
from otel_llmcost.pipeline import Pipeline
from otel_llmcost.pricing import PriceBook
from otel_llmcost.store import WritableStore, open_store

logger = logging.getLogger(__name__)

_THREADS = 4  # exports in progress at once: one decodes while others wait for their spool's fsync


def _mapping(items: dict) -> types.MappingProxyType:
    return types.MappingProxyType(items)


# Settings hold read-only mappings, which pickle does not know.
copyreg.pickle(types.MappingProxyType, lambda mapping: (_mapping, (dict(mapping),)))


def pack(settings: Settings, price_book: PriceBook) -> bytes:
    """What a worker is started with (its arguments cross to a new interpreter)."""
    return pickle.dumps((settings, price_book))


def run(index: int, spool_dir: str, requests: Connection, store_link: Connection) -> None:
    """The worker's main (multiprocessing's spawn start method: a fresh interpreter, no chDB in it); its
    settings and price book (pack()) are the first message on `requests`."""
    for signum in (signal.SIGINT, signal.SIGTERM):  # the owner stops its workers itself
        signal.signal(signum, signal.SIG_IGN)
    try:
        settings, price_book = pickle.loads(requests.recv_bytes())
    except (EOFError, OSError):  # the owner is gone already
        os._exit(0)
    logging.basicConfig(level=settings.log_level.upper(),
                        format=f"%(asctime)s %(levelname)s %(name)s[worker {index}]: %(message)s")
    Path(spool_dir).mkdir(parents=True, exist_ok=True)
    lock = open(os.path.join(spool_dir, ".lock"), "w")  # noqa: SIM115 (held until the process ends)
    fcntl.flock(lock, fcntl.LOCK_EX)
    linked = settings.store.enabled and not settings.store.clickhouse
    link = LinkedStore(store_link, settings.store.database)
    store: WritableStore = MeasuredStore(link if linked else open_store(settings))

    def stored(rows: Sequence[UsageRow]) -> None:
        try:
            link.add_costs(pipeline.cost_metrics.tally(rows))
        except Exception:  # the rows are stored; only the owner's metrics miss them
            logger.exception("cost metrics of %d stored rows were not counted", len(rows))

    pipeline = Pipeline(settings, store, price_book, spool_dir=spool_dir, on_stored=stored)
    replayed = pipeline.start()
    Worker(pipeline, requests).serve(replayed)


class Worker:
    def __init__(self, pipeline: Pipeline, requests: Connection):
        self._pipeline = pipeline
        self._requests = requests
        self._send_lock = threading.Lock()

    def serve(self, replayed: int) -> None:
        self._answer(0, "ready", replayed)
        with ThreadPoolExecutor(_THREADS, thread_name_prefix="ingest") as pool:
            while True:
                try:
                    request = self._requests.recv()
                except (EOFError, OSError):
                    logger.warning("the receiver's main process is gone; stopping (the spool keeps what is unstored)")
                    os._exit(0)
                kind, number = request[0], request[1]
                if kind == "close":
                    pool.shutdown(wait=True)
                    self._pipeline.close()
                    self._answer(number, "ok", self._pipeline.stats())
                    return
                if kind == "stats":
                    self._answer(number, "ok", self._pipeline.stats())
                else:
                    pool.submit(self._ingest, request)

    def _ingest(self, request: tuple) -> None:
        kind, number, body = request[0], request[1], request[2]
        try:
            if kind == "wire":
                result = self._pipeline.ingest_wire(body, request[3])
            else:
                export = PB2ExportTraceServiceRequest()
                export.ParseFromString(body)  # the owner's own encoding of a checked export
                result = self._pipeline.ingest(export)
        except OverloadedError as exc:
            self._answer(number, "overloaded", str(exc))
        except DecodeError as exc:
            self._answer(number, "undecodable", str(exc))
        except Exception as exc:
            logger.exception("export failed")
            self._answer(number, "failed", f"{type(exc).__name__}: {exc}")
        else:
            self._answer(number, "ok", result)

    def _answer(self, number: int, status: str, value: Any) -> None:
        with self._send_lock:
            try:
                self._requests.send((number, status, value))
            except OSError:  # the owner is gone: recv() sees it next
                pass
