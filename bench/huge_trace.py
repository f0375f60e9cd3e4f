#!/usr/bin/env python
"""One huge trace: how long pricing takes (in-process) and how long until it is stored (real receiver).

    python bench/huge_trace.py [--spans N] [--shape flat|pairs] [--skip-e2e]

flat: N LLM calls of one library under one root (issue 11's 100k-span, 25 MB export).
pairs: N/2 instrumentation-library spans, each around the provider SDK's own span of the same call.
Prints figures only, no pass/fail.
"""

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import datetime, timezone
from pathlib import Path

import yaml
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

from otel_llmcost.config import load_settings
from otel_llmcost.decode import decode_spans
from otel_llmcost.ingest.tracebuffer import TraceBuffer
from otel_llmcost.pricing import load_price_book
from otel_llmcost.rows.attribution import Attributor
from otel_llmcost.rows.usage import build_usage_rows
from otel_llmcost.semconv import WANTED_ATTRIBUTES, extract_call
from store_ready import wait_store_open  # bench/ is on sys.path when this file is run as a script


def _attributes(**values) -> list[KeyValue]:
    return [KeyValue(key=k, value=AnyValue(int_value=v) if isinstance(v, int) else AnyValue(string_value=v))
            for k, v in values.items()]


def make_export(spans: int, shape: str) -> ExportTraceServiceRequest:
    trace_id, root_id, now = os.urandom(16), os.urandom(8), time.time_ns()
    root = Span(trace_id=trace_id, span_id=root_id, name="POST /agent", kind=Span.SPAN_KIND_SERVER,
                start_time_unix_nano=now - 10**12, end_time_unix_nano=now,
                attributes=_attributes(**{"tenant.id": "acme", "feature.name": "agent"}))
    outer, inner = [root], []
    for i in range(spans - 1 if shape == "flat" else (spans - 1) // 2):
        start = now - 10**12 + i * 5_000_000
        call = _attributes(**{"gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai",
                              "gen_ai.request.model": "gpt-4o-mini", "gen_ai.usage.input_tokens": 100 + i % 50,
                              "gen_ai.usage.output_tokens": 10, "padding": "x" * 120})
        span_id = os.urandom(8)
        outer.append(Span(trace_id=trace_id, span_id=span_id, parent_span_id=root_id, name="chat gpt-4o-mini",
                          kind=Span.SPAN_KIND_CLIENT, start_time_unix_nano=start,
                          end_time_unix_nano=start + 4_000_000, attributes=call))
        if shape == "pairs":
            inner.append(Span(trace_id=trace_id, span_id=os.urandom(8), parent_span_id=span_id,
                              name="chat gpt-4o-mini", kind=Span.SPAN_KIND_CLIENT,
                              start_time_unix_nano=start + 100, end_time_unix_nano=start + 3_900_000,
                              attributes=call))
    scopes = [ScopeSpans(scope={"name": "opentelemetry.instrumentation.openai"}, spans=outer)]
    if inner:
        scopes.append(ScopeSpans(scope={"name": "openai"}, spans=inner))
    return ExportTraceServiceRequest(resource_spans=[ResourceSpans(
        resource={"attributes": _attributes(**{"service.name": "bench"})}, scope_spans=scopes)])


def in_process(export: ExportTraceServiceRequest) -> tuple[int, float]:
    settings = load_settings()
    attributor, book = Attributor(settings.attribution.keys), load_price_book()
    spans = decode_spans(export, WANTED_ATTRIBUTES.union(attributor.wanted)).spans
    buffer = TraceBuffer(5.0, 120.0)
    buffer.add(spans, 1, calls=[extract_call(span) for span in spans])
    (group,) = buffer.take_ready(everything=True)
    began = time.process_time()
    rows = build_usage_rows(group, attributor, book, datetime.now(timezone.utc))
    return len(rows), time.process_time() - began


def end_to_end(body: bytes, rows: int) -> tuple[float, int, int]:
    """Seconds from the POST until every row is stored, rows stored, exit code of the SIGTERM that follows."""
    tmp = Path(tempfile.mkdtemp(prefix="llmcost-huge-"))
    (tmp / "config.yaml").write_text(yaml.safe_dump({
        "log_level": "WARNING", "store": {"flush_interval_seconds": 0.5},
        "receiver": {"max_request_bytes": 256 * 1024 * 1024}}))
    command = [sys.executable, "-m", "otel_llmcost", "serve", "--config", str(tmp / "config.yaml"),
               "--data-dir", str(tmp / "data"), "--host", "127.0.0.1", "--grpc-port", "0", "--http-port", "0",
               "--query-port", "0"]
    with open(tmp / "receiver.log", "w") as log:
        proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=log, text=True)
    port = json.loads(proc.stdout.readline())["http_port"]
    wait_store_open(port, 120, lambda: proc.poll() is None)  # POST to stored: not the store's opening
    began = time.perf_counter()
    request = urllib.request.Request(f"http://127.0.0.1:{port}/v1/traces", data=body, method="POST",
                                     headers={"Content-Type": "application/x-protobuf"})
    urllib.request.urlopen(request, timeout=600).read()
    stored = 0
    while stored < rows and time.perf_counter() - began < 900:
        time.sleep(0.5)
        out = subprocess.run([sys.executable, "-m", "otel_llmcost", "sql", "--data-dir", str(tmp / "data"),
                              "SELECT count() AS n FROM llmcost.llm_usage"], capture_output=True, text=True)
        stored = json.loads(out.stdout)["n"] if out.returncode == 0 else 0
    spent = time.perf_counter() - began
    proc.send_signal(signal.SIGTERM)
    code = proc.wait(timeout=600)
    if code == 0:
        shutil.rmtree(tmp)
    return spent, stored, code


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--spans", type=int, default=100_000)
    parser.add_argument("--shape", choices=("flat", "pairs"), default="flat")
    parser.add_argument("--skip-e2e", action="store_true")
    args = parser.parse_args()
    export = make_export(args.spans, args.shape)
    body = export.SerializeToString()
    rows, seconds = in_process(export)
    print(f"{args.spans:,} spans ({args.shape}), one trace, {len(body) / 1e6:.1f} MB export")
    print(f"in-process build_usage_rows (dedupe, attribution, pricing): {rows:,} rows in {seconds:.2f} CPU s")
    if not args.skip_e2e:
        spent, stored, code = end_to_end(body, rows)
        print(f"end to end: POST to all {stored:,} rows stored in {spent:.1f} s; SIGTERM exit {code}")


if __name__ == "__main__":
    main()
