#!/usr/bin/env python
"""Overload: the receiver's peak memory when clients send faster than traces can be released.

    python bench/overload_rss.py [--max-buffered-bytes N] [--clients C] [--seconds S] [--trace-wait W]

Every span waits for a parent that never comes (held for max_trace_wait_seconds, W: 600 s by default), so
the buffer only grows until the byte cap answers 503. With W shorter than the run, held traces are released
under overload: the flusher then holds a buffer's worth of traces while exports keep coming (the cap counts
both). Prints accepted spans, refusals and the receiver's peak RSS (VmHWM).
"""

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import yaml
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span


def orphan_export(spans: int) -> bytes:
    now, attributes = time.time_ns(), [
        KeyValue(key=k, value=AnyValue(string_value=v)) for k, v in {
            "gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai",
            "gen_ai.request.model": "gpt-4o-mini", "tenant.id": "acme", "padding": "x" * 600}.items()]
    attributes += [KeyValue(key="gen_ai.usage.input_tokens", value=AnyValue(int_value=100)),
                   KeyValue(key="gen_ai.usage.output_tokens", value=AnyValue(int_value=10))]
    trace_id = os.urandom(16)
    return ExportTraceServiceRequest(resource_spans=[ResourceSpans(scope_spans=[ScopeSpans(spans=[
        Span(trace_id=trace_id if i % 8 else os.urandom(16), span_id=os.urandom(8), parent_span_id=os.urandom(8),
             name="chat gpt-4o-mini", kind=Span.SPAN_KIND_CLIENT, start_time_unix_nano=now,
             end_time_unix_nano=now + 1, attributes=attributes) for i in range(spans)])])]).SerializeToString()


def peak_rss_mb(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmHWM:\s+(\d+)", status).group(1)) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--max-buffered-bytes", type=int, default=None, help="default: the receiver's")
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--trace-wait", type=float, default=600.0, help="seconds a trace waits for its parents")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="llmcost-overload-"))
    attribution = {"trace_wait_seconds": args.trace_wait, "max_trace_wait_seconds": args.trace_wait}
    if args.max_buffered_bytes:
        attribution["max_buffered_bytes"] = args.max_buffered_bytes
    (tmp / "config.yaml").write_text(yaml.safe_dump({"log_level": "INFO", "spool_fsync": False,
                                                     "attribution": attribution}))
    command = [sys.executable, "-m", "otel_llmcost", "serve", "--config", str(tmp / "config.yaml"),
               "--data-dir", str(tmp / "data"), "--host", "127.0.0.1", "--grpc-port", "0", "--http-port", "0",
               "--query-port", "0"]
    with open(tmp / "receiver.log", "w") as log:
        proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=log, text=True)
    url = f"http://127.0.0.1:{json.loads(proc.stdout.readline())['http_port']}/v1/traces"
    idle_rss = peak_rss_mb(proc.pid)
    counts = {"accepted": 0, "refused": 0}
    deadline = time.monotonic() + args.seconds

    def client() -> None:
        body = orphan_export(512)  # one body per client, re-sent with fresh ids each time
        while time.monotonic() < deadline:
            request = urllib.request.Request(url, data=body, method="POST",
                                             headers={"Content-Type": "application/x-protobuf"})
            try:
                urllib.request.urlopen(request, timeout=60).read()
                counts["accepted"] += 512
                body = orphan_export(512)
            except urllib.error.HTTPError as error:
                counts["refused"] += error.code == 503
                time.sleep(0.2)

    threads = [threading.Thread(target=client) for _ in range(args.clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    peak = peak_rss_mb(proc.pid)
    proc.send_signal(signal.SIGTERM)  # waiting traces stay in the spool: a quick stop
    code = proc.wait(timeout=600)
    stats = re.search(r"PipelineStats\((.*)\)", (tmp / "receiver.log").read_text())
    buffered = re.search(r"buffered_bytes=(\d+)", stats.group(1)).group(1) if stats else "?"
    print(f"{args.seconds:.0f} s, {args.clients} clients, traces held {args.trace_wait:.0f} s: "
          f"{counts['accepted']:,} spans accepted, "
          f"{counts['refused']:,} exports refused (503); buffered {int(buffered) / 2**20:.0f} MiB at the end")
    print(f"receiver RSS: idle {idle_rss:.0f} MB, peak {peak:.0f} MB; SIGTERM exit {code}")
    if code == 0:
        shutil.rmtree(tmp)


if __name__ == "__main__":
    main()
