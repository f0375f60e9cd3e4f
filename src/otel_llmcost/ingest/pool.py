"""Several ingest workers (receiver.workers above 1), seen by the receivers as one write path.

This process keeps the listeners and, with the embedded store, the store (flush/handoff.StoreService). Each
binary export is split by trace id on its wire bytes (receive/route.py) and each part sent to the worker
owning its traces; the client is answered once every worker concerned has its spans in its spool, so
what is acknowledged is durable. When one of them refuses (full, its spool failing, restarting), the export
is refused as a whole and the client retries it: the parts other workers took already are then found in
their buffers (counted as duplicates), or in the store, and are neither lost nor stored twice.

A worker that dies (kill -9, a crash) is started again at once and replays its spool; exports with spans
for it are refused meanwhile. Counters are summed over the workers (a restarted worker's start at zero).
"""

from __future__ import annotations

import atexit
import dataclasses
import itertools
import logging
import multiprocessing
import threading
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import TYPE_CHECKING, Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest as PB2ExportTraceServiceRequest,
)

from otel_llmcost.config import Settings
from otel_llmcost.errors import DecodeError, OverloadedError
from otel_llmcost.flush.handoff import StoreService
from otel_llmcost.ingest import worker
from otel_llmcost.ingest.spooldirs import worker_spool_dir
from otel_llmcost.model import IngestResult, PipelineStats
from otel_llmcost.ops.costmetrics import CostMetrics, instance_id
from otel_llmcost.pricing import PriceBook
from otel_llmcost.receive.route import split_by_trace

if TYPE_CHECKING:
    from otel_llmcost.forward import Forwarder

logger = logging.getLogger(__name__)

_ANSWER_SECONDS = 120.0  # an export a worker has not answered in this long is refused (the client retries)
_CLOSE_SECONDS = 600.0  # a worker's last flush (every ready trace) before it is killed
_START_SECONDS = 600.0  # a large spool takes long to replay
_RESTART_DELAY = 1.0


_STARTED: list[BaseProcess] = []  # every worker process, for _kill_survivors


@atexit.register
def _kill_survivors() -> None:
    """Workers ignore SIGTERM and wait for the owner: when it exits without closing them (a failed start), they
    go with it, before multiprocessing's own exit handler would wait for them for ever."""
    for process in _STARTED:
        if process.is_alive():
            process.kill()
            process.join()


@dataclass(slots=True)
class _Reply:
    done: threading.Event = dataclasses.field(default_factory=threading.Event)
    status: str = "gone"
    value: Any = None


class _WorkerLink:
    """The owner's side of one worker: its process (started again when it dies) and its requests."""

    def __init__(self, index: int, spool_dir: str, packed: bytes, service: StoreService):
        self.index = index
        self._spool_dir, self._packed, self._service = spool_dir, packed, service
        self._lock = threading.Lock()  # the state below
        self._send_lock = threading.Lock()  # one message at a time on the pipe (never held with the other)
        self._requests: Connection | None = None
        self._pending: dict[int, _Reply] = {}
        self._numbers = itertools.count(1)
        self._ready = threading.Event()
        self._settled = threading.Event()  # ready, or failed before it ever was
        self._closing = False
        self.replayed = 0
        self.final: PipelineStats | None = None  # its figures when it stopped

    def start(self) -> None:
        context = multiprocessing.get_context("spawn")  # a fresh interpreter: no chDB, no grpc threads forked
        requests, child_requests = context.Pipe()
        store_link, child_store_link = context.Pipe()
        process = context.Process(target=worker.run, name=f"llmcost-ingest-{self.index}", args=(
            self.index, self._spool_dir, child_requests, child_store_link))
        process.start()
        _STARTED.append(process)
        child_requests.close()  # only the worker holds its ends: its death is an EOF here
        child_store_link.close()
        self._service.serve(store_link, f"llmcost-store-link-{self.index}")
        threading.Thread(target=self._read, args=(process, requests), name=f"llmcost-ingest-{self.index}-answers",
                         daemon=True).start()
        # Its settings and price book go as the first message, not as arguments: multiprocessing writes those
        # into a pipe it also holds open for reading, so a worker killed before reading them all (they are
        # larger than a pipe's buffer) would block this thread for ever.
        threading.Thread(target=self._send_settings, args=(requests,), daemon=True).start()

    def _send_settings(self, requests: Connection) -> None:
        try:
            with self._send_lock:
                requests.send_bytes(self._packed)
        except (OSError, TypeError, ValueError):  # it died first (and _read closed the connection)
            pass

    def wait_ready(self, timeout: float) -> bool:
        self._settled.wait(timeout)
        return self._ready.is_set()

    def send(self, kind: str, *payload: Any) -> _Reply:
        """Send a request; its answer arrives in the reply. OverloadedError when the worker is not there."""
        reply = _Reply()
        with self._lock:
            requests = self._requests
            if requests is None or not self._ready.is_set():
                raise OverloadedError(f"ingest worker {self.index} is starting; retry later")
            number = next(self._numbers)
            self._pending[number] = reply
        try:
            with self._send_lock:
                requests.send((kind, number, *payload))
        except (OSError, ValueError) as exc:
            with self._lock:
                self._pending.pop(number, None)
            raise OverloadedError(f"ingest worker {self.index} is restarting; retry later") from exc
        return reply

    def close(self) -> None:
        self._closing = True
        try:
            reply = self.send("close")
        except OverloadedError:
            return
        if not reply.done.wait(_CLOSE_SECONDS):
            logger.error("ingest worker %d did not finish its last flush; its spool keeps the rest", self.index)
        elif reply.status == "ok":
            self.final = reply.value

    def _read(self, process: BaseProcess, requests: Connection) -> None:
        try:
            while True:
                number, status, value = requests.recv()
                if status == "ready":
                    self.replayed = value
                    with self._lock:
                        self._requests = requests
                    self._ready.set()
                    self._settled.set()
                    continue
                with self._lock:
                    reply = self._pending.pop(number, None)
                if reply is not None:
                    reply.status, reply.value = status, value
                    reply.done.set()
        except (EOFError, OSError):
            pass
        except Exception:  # a message torn by the worker's death, say: it is gone all the same
            logger.exception("ingest worker %d: its answers cannot be read", self.index)
        with self._lock:
            self._ready.clear()
            self._requests = None
            lost, self._pending = self._pending, {}
        for reply in lost.values():
            reply.done.set()  # status "gone"
        requests.close()
        process.join(10)
        if process.is_alive():
            process.kill()
            process.join()
        if self._closing:
            return
        if not self._settled.is_set():  # it never started: starting it again would fail the same way
            logger.error("ingest worker %d could not start (exit code %s)", self.index, process.exitcode)
            self._settled.set()
            return
        logger.error("ingest worker %d stopped (exit code %s); starting it again, its spool replayed", self.index,
                     process.exitcode)
        time.sleep(_RESTART_DELAY)
        self.start()


class WorkerPool:
    """The write path with several ingest workers: pipeline.WritePath, as pipeline.Pipeline is."""

    def __init__(self, settings: Settings, store: Any, price_book: PriceBook, workers: int):
        self.forwarder: Forwarder | None = None  # forwarding keeps one worker (pipeline.open_write_path)
        self.cost_metrics = CostMetrics(settings.metrics.attributes, settings.metrics.max_series,
                                        instance_id(settings.data_dir))
        service = self._service = StoreService(store, self.cost_metrics, workers,
                                               settings.store.flush_interval_seconds)
        # The buffer's cap is the receiver's: each worker holds its share of the traces, and of the bytes.
        share = dataclasses.replace(settings.attribution,
                                    max_buffered_bytes=max(settings.attribution.max_buffered_bytes // workers, 1024))
        packed = worker.pack(dataclasses.replace(settings, attribution=share), price_book)
        self._links = [_WorkerLink(index, worker_spool_dir(settings.spool_dir, index, workers), packed, service)
                       for index in range(workers)]

    def start(self) -> int:
        """Start every worker and wait until each has replayed its spool; returns the spans replayed."""
        for link in self._links:
            link.start()
        for link in self._links:
            if not link.wait_ready(_START_SECONDS):
                raise OverloadedError(f"ingest worker {link.index} did not start")
        replayed = sum(link.replayed for link in self._links)
        if replayed:
            logger.info("replaying %d spans from the spool", replayed)
        return replayed

    def ingest_wire(self, body: bytes, key: tuple[str, str | None] | None) -> IngestResult:
        parts = split_by_trace(body, len(self._links))
        return self._gather([(link, ("wire", part, key)) for link, part in zip(self._links, parts, strict=True)
                             if part is not None])

    def ingest(self, request: PB2ExportTraceServiceRequest) -> IngestResult:
        """An export decoded here already (OTLP/JSON, events), its key bound: split and sent as is."""
        parts = split_by_trace(request.SerializeToString(), len(self._links))
        return self._gather([(link, ("request", part)) for link, part in zip(self._links, parts, strict=True)
                             if part is not None])

    def _gather(self, requests: list[tuple[_WorkerLink, tuple]]) -> IngestResult:
        replies = []
        try:
            for link, (kind, *payload) in requests:
                replies.append((link, link.send(kind, *payload)))
        finally:  # what was sent is waited for even when a later send failed: nothing is left half-answered
            deadline = time.monotonic() + _ANSWER_SECONDS
            for _, reply in replies:
                reply.done.wait(max(deadline - time.monotonic(), 0))
        accepted = rejected = 0
        messages = []
        for link, reply in replies:
            if not reply.done.is_set() or reply.status in ("gone", "overloaded"):
                reason = reply.value if reply.status == "overloaded" else f"ingest worker {link.index} restarting"
                raise OverloadedError(f"{reason}; retry later")
            if reply.status == "undecodable":
                raise DecodeError(reply.value)
            if reply.status != "ok":
                raise RuntimeError(f"ingest worker {link.index}: {reply.value}")
            accepted += reply.value.accepted_spans
            rejected += reply.value.rejected_spans
            if reply.value.message:
                messages.append(reply.value.message)
        return IngestResult(accepted, rejected, "; ".join(messages))

    def pass_through(self, signal: str, items: int, body: bytes) -> None:
        raise OverloadedError("metrics and logs are passed on only when forwarding")  # receivers never ask here

    def stats(self) -> PipelineStats:
        """Every worker's figures added up (ages: the oldest); a worker restarting is left out."""
        replies = []
        for link in self._links:
            if link.final is not None:
                replies.append(_Reply(status="ok", value=link.final))
                replies[-1].done.set()
                continue
            try:
                replies.append(link.send("stats"))
            except OverloadedError:
                continue
        figures = [reply.value for reply in replies if reply.done.wait(10) and reply.status == "ok"]
        totals: dict[str, Any] = {}
        for field in dataclasses.fields(PipelineStats):
            values = [getattr(stats, field.name) for stats in figures]
            totals[field.name] = max(values, default=0.0) if field.name.startswith("oldest_") else sum(values)
        return PipelineStats(**totals)

    @property
    def rows_written(self) -> int:
        return self.stats().rows_written

    def close(self) -> None:
        """Every worker writes its ready traces and stops; waiting traces stay in their spools."""
        threads = [threading.Thread(target=link.close) for link in self._links]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        joiner = self._service.joiner
        logger.info("pipeline: %s; the workers' %d blocks stored in %d inserts", self.stats(), joiner.blocks,
                    joiner.inserts)
