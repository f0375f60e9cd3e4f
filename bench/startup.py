"""How soon `otel-llmcost serve` is ready, with the default settings on the embedded store, and its idle RSS.

    python bench/startup.py [--runs 5] [--workers N]

Each start is timed from exec to: the "ready" line; the first export acknowledged over OTLP/HTTP and over
OTLP/gRPC (both sent as soon as the line is read); and the store open (GET /storez: chDB loaded, migrated,
the budget ledger seeded; `serve` opens it after the receivers listen). Then the receiver idles for 2 s and
its memory is read (the RSS of the receiver's process, and the PSS of it with its ingest workers and
multiprocessing's helpers, which share pages). Every listener is on a free port.

The first start on a directory also creates the store (every migration); the later ones open it, as a
restart does. Figures: median and max of the restarts, with the load average (wall times on a shared
machine follow the load; CPU seconds hardly do). With PYTHONDONTWRITEBYTECODE set, as in some shells,
every start compiles every module again (about a second of CPU) where an installed package has bytecode:
the receivers here run without it, after a start that is not counted (it writes the bytecode).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import grpc
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

from store_ready import wait_store_open  # bench/ is on sys.path when this file is run as a script

_EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"


def _export() -> bytes:
    """One LLM call span of a trace of its own."""
    now = time.time_ns()
    attributes = {"gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai",
                  "gen_ai.request.model": "gpt-4o-mini", "gen_ai.usage.input_tokens": 100,
                  "gen_ai.usage.output_tokens": 20}
    span = Span(trace_id=os.urandom(16), span_id=os.urandom(8), name="chat gpt-4o-mini", kind=Span.SPAN_KIND_CLIENT,
                start_time_unix_nano=now - 50_000_000, end_time_unix_nano=now,
                attributes=[KeyValue(key=key, value=AnyValue(string_value=value) if isinstance(value, str)
                                     else AnyValue(int_value=value)) for key, value in attributes.items()])
    resource = {"attributes": [KeyValue(key="service.name", value=AnyValue(string_value="startup-bench"))]}
    return ExportTraceServiceRequest(resource_spans=[ResourceSpans(
        resource=resource, scope_spans=[ScopeSpans(spans=[span])])]).SerializeToString()


def _tree(pid: int) -> list[int]:
    """The process and its descendants (ingest workers, multiprocessing's helpers)."""
    found, index = [pid], 0
    while index < len(found):
        for task in Path(f"/proc/{found[index]}/task").glob("*/children"):
            try:
                found.extend(int(child) for child in task.read_text().split())
            except OSError:
                pass
        index += 1
    return found


def _memory_mb(pid: int, name: str = "Rss:") -> float:
    """Rss: the process's resident pages; Pss: with each page shared by n processes counted 1/n (the sum over
    processes is then what they hold together)."""
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith(name):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of the process so far: unlike wall time, it hardly depends on the load."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:  # ended meanwhile
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _post_http(port: int, body: bytes) -> float:
    request = urllib.request.Request(f"http://127.0.0.1:{port}/v1/traces", data=body,
                                     headers={"Content-Type": "application/x-protobuf"})
    with urllib.request.urlopen(request, timeout=60) as response:
        response.read()
        assert response.status == 200, response.status
    return time.perf_counter()


def _export_grpc(port: int, body: bytes) -> float:
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        channel.unary_unary(_EXPORT)(body, timeout=60)  # pre-serialized bytes go out as they are
    return time.perf_counter()


def _one_start(data_dir: str, workers: int | None, env: dict[str, str]) -> dict[str, float]:
    workers_args = ["--workers", str(workers)] if workers else []
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "otel_llmcost", "serve", "--data-dir", data_dir, "--host", "127.0.0.1",
         "--grpc-port", "0", "--http-port", "0", "--query-port", "0", *workers_args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )
    assert process.stdout is not None and process.stderr is not None
    line = process.stdout.readline()
    ready = time.perf_counter()
    if not line:
        raise SystemExit(f"receiver did not start: {process.stderr.read()}")
    cpu = _cpu_seconds(process.pid)
    tree_cpu = sum(_cpu_seconds(pid) for pid in _tree(process.pid))
    ports = json.loads(line)
    acks: dict[str, float] = {}
    senders = [threading.Thread(target=lambda: acks.__setitem__("http", _post_http(ports["http_port"], _export()))),
               threading.Thread(target=lambda: acks.__setitem__("grpc", _export_grpc(ports["grpc_port"], _export())))]
    for sender in senders:
        sender.start()
    store_open = wait_store_open(ports["http_port"], 120, lambda: process.poll() is None)
    if store_open is None:
        raise SystemExit(f"the receiver stopped: {process.stderr.read()}")
    for sender in senders:
        sender.join()
    time.sleep(2.0)  # idle: let a flush interval or two pass
    rss = _memory_mb(process.pid)
    tree_pss = sum(_memory_mb(pid, "Pss:") for pid in _tree(process.pid))
    process.send_signal(signal.SIGTERM)
    _, log = process.communicate(timeout=120)
    if process.returncode != 0:
        raise SystemExit(f"receiver exited {process.returncode}: {log}")
    return {"ready": ready - started, "http_ack": acks["http"] - started, "grpc_ack": acks["grpc"] - started,
            "store_open": store_open - started, "cpu": cpu, "tree_cpu": tree_cpu, "rss": rss, "tree_pss": tree_pss}


def _line(name: str, figures: list[dict[str, float]]) -> str:
    def both(key: str, unit: str, digits: int) -> str:
        values = [run[key] for run in figures]
        return f"{statistics.median(values):.{digits}f}/{max(values):.{digits}f}{unit}"

    return (f"{name}: ready {both('ready', ' s', 2)}, HTTP ack {both('http_ack', ' s', 2)}, gRPC ack "
            f"{both('grpc_ack', ' s', 2)}, store open {both('store_open', ' s', 2)}; CPU at ready "
            f"{both('cpu', ' s', 2)} (with the workers {both('tree_cpu', ' s', 2)}); idle RSS "
            f"{both('rss', ' MB', 0)}, PSS with its workers {both('tree_pss', ' MB', 0)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="restarts after the first start (default 5)")
    parser.add_argument("--workers", type=int, default=None, help="receiver.workers (default: the settings')")
    args = parser.parse_args()
    env = {name: value for name, value in os.environ.items() if name != "PYTHONDONTWRITEBYTECODE"}
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as warm_up:
        _one_start(warm_up, args.workers, env)
    with tempfile.TemporaryDirectory() as data_dir:
        first = _one_start(data_dir, args.workers, env)
        later = [_one_start(data_dir, args.workers, env) for _ in range(args.runs)]
    print("seconds from exec; median/max (one figure for the first start)")
    print(_line("first start (creates the store)", [first]))
    print(_line(f"restart x{args.runs}", later))
    unset = " (PYTHONDONTWRITEBYTECODE was set: unset for the receivers)" if len(env) < len(os.environ) else ""
    print(f"load average: {load_before:.1f} before, {os.getloadavg()[0]:.1f} after, on {os.cpu_count()} CPUs{unset}")


if __name__ == "__main__":
    main()
