#!/usr/bin/env python
"""What forwarding costs per span: the real receiver, fed over OTLP/gRPC by concurrent clients, with
forwarding off, on to a live downstream endpoint (tests/otlp_sink.py, another process), and on to a
destination that is down. Prints, per mode: ingest spans/s while sending (acknowledged), the receiver's
whole CPU per span (ingest, pricing, storing, forwarding, until it has exited), for the live endpoint the
seconds from the first export until every span had arrived there, and the seconds SIGTERM took.

    python bench/forward.py [--spans N] [--llm-fraction F] [--clients C]

Prints figures only, no pass/fail.
"""

import argparse
import json
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import grpc
import yaml
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from workload import make_batches  # bench/ is on sys.path when this file is run as a script

EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
SINK = Path(__file__).resolve().parent.parent / "tests" / "otlp_sink.py"


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def spans_arrived(out: Path) -> int:
    total = 0
    if out.exists():
        import base64
        for line in out.read_text(encoding="ascii").splitlines():
            request = ExportTraceServiceRequest.FromString(base64.b64decode(line.split(" ", 1)[1]))
            total += sum(len(s.spans) for r in request.resource_spans for s in r.scope_spans)
    return total


def run(mode: str, batches: list[bytes], counts: list[int], clients: int) -> list[str]:
    tmp = Path(tempfile.mkdtemp(prefix="llmcost-forward-bench-"))
    sink = None
    config = {"log_level": "WARNING", "store": {"flush_interval_seconds": 0.5},
              "attribution": {"trace_wait_seconds": 1.0, "max_trace_wait_seconds": 5.0}}
    if mode == "live":
        sink = subprocess.Popen([sys.executable, str(SINK), str(tmp / "sink.out")], stdout=subprocess.PIPE, text=True)
        port = json.loads(sink.stdout.readline())["grpc_port"]
        config["forward"] = {"destinations": [{"endpoint": f"127.0.0.1:{port}"}]}
    elif mode == "down":
        config["forward"] = {"destinations": [{"endpoint": f"127.0.0.1:{free_port()}"}],
                             "max_retry_delay_seconds": 5.0}
    (tmp / "config.yaml").write_text(yaml.safe_dump(config))
    reaped_before = children_cpu()
    with open(tmp / "receiver.log", "w") as log:
        proc = subprocess.Popen([sys.executable, "-m", "otel_llmcost", "serve", "--config", str(tmp / "config.yaml"),
                                 "--data-dir", str(tmp / "data"), "--host", "127.0.0.1", "--grpc-port", "0",
                                 "--http-port", "0", "--no-query-listener"],
                                stdout=subprocess.PIPE, stderr=log, text=True)
    port = json.loads(proc.stdout.readline())["grpc_port"]
    todo = iter(range(len(batches)))

    def client() -> None:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            export = channel.unary_unary(EXPORT)
            while (index := next(todo, None)) is not None:
                while True:
                    try:
                        export(batches[index], timeout=120)
                        break
                    except grpc.RpcError as exc:
                        if exc.code() != grpc.StatusCode.UNAVAILABLE:
                            raise
                        time.sleep(0.05)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    startup, began = cpu_seconds(proc.pid), time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    send_s = time.perf_counter() - began
    total = sum(counts)
    arrived_s = "-"
    if sink is not None:
        while spans_arrived(tmp / "sink.out") < total and time.perf_counter() - began < 300:
            time.sleep(1)
        arrived_s = f"{time.perf_counter() - began:.1f}"
    stopping = time.perf_counter()
    proc.send_signal(signal.SIGTERM)  # it writes every buffered trace before it exits
    proc.wait(timeout=300)
    drain_s = time.perf_counter() - stopping
    cpu = children_cpu() - reaped_before - startup  # ingest, pricing, storing and forwarding, all of it
    if sink is not None:
        sink.terminate()
        sink.wait()
    shutil.rmtree(tmp)
    return [mode, f"{total / send_s:,.0f}", f"{cpu / total * 1e6:.1f}", arrived_s, f"{drain_s:.1f}"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--spans", type=int, default=100_000)
    parser.add_argument("--llm-fraction", type=float, default=0.3)
    parser.add_argument("--clients", type=int, default=4)
    args = parser.parse_args()
    batches, counts = make_batches(args.spans, args.llm_fraction)[:2]
    print(f"{sum(counts):,} spans in {len(batches)} exports, {args.clients} clients, {os.cpu_count()} cores")
    header = ["forwarding", "ingest spans/s", "receiver CPU us/span", "all arrived after s", "stop drain s"]
    rows = [run(mode, batches, counts, args.clients) for mode in ("off", "live", "down")]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print("  ".join(cell.rjust(width) for cell, width in zip(row, widths, strict=True)))


if __name__ == "__main__":
    main()
