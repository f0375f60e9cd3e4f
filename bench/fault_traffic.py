"""The traffic of bench/faults.py: OTLP exports whose every LLM call has a (trace_id, span_id) the driver
knows, and exporters that retry like the OpenTelemetry SDK's while recording what was acknowledged.
"""

from __future__ import annotations

import http.client
import os
import threading
import time
from dataclasses import dataclass, field

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest as Request
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse as Response
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from workload import add_attrs, template  # bench/ is on sys.path when faults.py is run as a script

RETRYABLE = {429, 502, 503, 504}  # what the OTLP/HTTP exporters retry, with backoff
Key = tuple[str, str]  # (trace_id hex, span_id hex) of one LLM call
TENANT = "acme"  # on every root span: a call stored with another tenant_id lost its attribution


def export(traces: int = 10, calls: int = 5, start_ns: int | None = None, **attributes) -> tuple[bytes, list[Key]]:
    """One OTLP export: `traces` traces of an app root span and `calls` LLM calls beneath it, all new ids.
    `attributes` are added to every LLM call (a poison value, for instance); `start_ns` (default: now) is when
    the calls start (a clock in 2262, for instance)."""
    request = Request()
    resource_spans = request.resource_spans.add()
    add_attrs(resource_spans.resource.attributes, {"service.name": "fault-driver"})
    spans, keys, now = resource_spans.scope_spans.add().spans, [], time.time_ns()
    for _ in range(traces):
        trace_id, root_id = os.urandom(16), os.urandom(8)
        for _ in range(calls):
            span = spans.add()
            span.CopyFrom(_CALL)
            span.trace_id, span.span_id, span.parent_span_id = trace_id, os.urandom(8), root_id
            span.start_time_unix_nano = now - 2_000_000 if start_ns is None else start_ns
            span.end_time_unix_nano = span.start_time_unix_nano + 1_000_000
            if attributes:  # replace the template's values of the same keys
                kept = [kv for kv in span.attributes if kv.key not in attributes]
                del span.attributes[:]
                span.attributes.extend(kept)
                add_attrs(span.attributes, attributes)
            keys.append((trace_id.hex(), span.span_id.hex()))
        root = spans.add()
        root.CopyFrom(_ROOT)
        root.trace_id, root.span_id = trace_id, root_id
        root.start_time_unix_nano, root.end_time_unix_nano = now - 3_000_000, now
    return request.SerializeToString(), keys


_CALL = template("chat gpt-4o-mini", Span.SPAN_KIND_CLIENT, {
    "gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai", "gen_ai.request.model": "gpt-4o-mini",
    "gen_ai.usage.input_tokens": 1200, "gen_ai.usage.output_tokens": 80})
_ROOT = template("POST /api/chat", Span.SPAN_KIND_SERVER, {"tenant.id": TENANT, "feature.name": "chat"})


def split_roots(body: bytes) -> tuple[bytes, bytes]:
    """An export as two: its LLM calls, then their root spans (a request still running after its calls)."""
    calls, roots = Request.FromString(body), Request.FromString(body)
    for message, kind in ((calls, Span.SPAN_KIND_CLIENT), (roots, Span.SPAN_KIND_SERVER)):
        spans = message.resource_spans[0].scope_spans[0].spans
        kept = [span for span in spans if span.kind == kind]
        del spans[:]
        spans.extend(kept)
    return calls.SerializeToString(), roots.SerializeToString()


@dataclass
class Ledger:
    """What the exporters sent and what the receiver acknowledged, by call."""

    sent: set = field(default_factory=set)
    acked: set = field(default_factory=set)
    answers: dict = field(default_factory=dict)  # HTTP status or exception name -> count
    lock: threading.Lock = field(default_factory=threading.Lock)

    def count(self, answer) -> None:
        with self.lock:
            self.answers[answer] = self.answers.get(answer, 0) + 1

    def deliver(self, url: str, body: bytes, keys: list[Key], give_up=lambda: float("inf"),
                timeout: float = 60.0) -> bool:
        """POST until a final answer, retrying refusals and connection errors until the monotonic time
        `give_up()` (a callable: a load being drained sets it while exports are in flight)."""
        with self.lock:
            self.sent.update(keys)
        host, port = url.split("//")[1].split("/")[0].split(":")
        while True:
            try:
                connection = http.client.HTTPConnection(host, int(port), timeout=timeout)
                connection.request("POST", "/v1/traces", body, {"Content-Type": "application/x-protobuf"})
                reply = connection.getresponse()
                status, payload = reply.status, reply.read()
                connection.close()
            except (OSError, http.client.HTTPException) as exc:
                status, payload = type(exc).__name__, b""
            self.count(status)
            if status == 200:
                rejected = Response.FromString(payload).partial_success
                with self.lock:  # a rejected call is not acknowledged: drop those the message names
                    self.acked.update(k for k in keys if k[1] not in rejected.error_message)
                return True
            if (status not in RETRYABLE and isinstance(status, int)) or time.monotonic() >= give_up():
                return False
            time.sleep(0.2)


class Load:
    """`clients` exporter threads sending new exports back to back until stopped; each keeps retrying its
    current export (through restarts too) until acknowledged or the drain deadline."""

    def __init__(self, ledger: Ledger, url: str, clients: int = 4, traces: int = 10, calls: int = 5):
        self.ledger, self.url, self.shape = ledger, url, (traces, calls)
        self._stop, self._give_up = threading.Event(), float("inf")
        self._threads = [threading.Thread(target=self._client, daemon=True) for _ in range(clients)]
        for thread in self._threads:
            thread.start()

    def _client(self) -> None:
        while not self._stop.is_set():
            body, keys = export(*self.shape)
            self.ledger.deliver(self.url, body, keys, give_up=lambda: self._give_up)

    def finish(self, drain: float = 30.0) -> None:
        """No new exports; those in flight get `drain` more seconds of retries."""
        self._give_up = time.monotonic() + drain
        self._stop.set()
        for thread in self._threads:
            thread.join(drain + 65)
