#!/usr/bin/env python
"""What forwarding costs per span: the real receiver, fed over OTLP/gRPC by concurrent clients, with
forwarding off, on to a live downstream endpoint (tests/otlp_sink.py, another process), and on to a
destination that is down. Prints, per mode: ingest spans/s while sending (acknowledged), the receiver's
whole CPU per span (ingest, pricing, storing, forwarding, until it has exited), for the live endpoint the
seconds from the first export until every span had arrived there, and the seconds SIGTERM took.

    python bench/forward.py [--spans N] [--llm-fraction F] [--clients C] [--repeat R]

With --repeat, the modes take turns R times (off, live, down, off, ...), so a change in the machine's load
falls on all of them; the last lines are each mode's medians and what forwarding adds per span (median CPU
with forwarding minus median CPU without). Prints figures only, no pass/fail.
"""

import argparse
import base64
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


class Arrivals:
    """Spans the sink has recorded so far, read on from where the last look stopped: only whole lines (the
    sink may be half-way through writing one), so the bench's own reading stays small beside the receiver."""

    def __init__(self, out: Path):
        self._out = out
        self._offset = 0
        self.spans = 0

    def count(self) -> int:
        if self._out.exists():
            with open(self._out, "rb") as recorded:
                recorded.seek(self._offset)
                data = recorded.read()
            whole = data[:data.rfind(b"\n") + 1]
            self._offset += len(whole)
            for line in whole.splitlines():
                request = ExportTraceServiceRequest.FromString(base64.b64decode(line.split(b" ", 1)[1]))
                self.spans += sum(len(s.spans) for r in request.resource_spans for s in r.scope_spans)
        return self.spans


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
        arrivals = Arrivals(tmp / "sink.out")
        while arrivals.count() < total and time.perf_counter() - began < 300:
            time.sleep(0.2)
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
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    batches, counts = make_batches(args.spans, args.llm_fraction)[:2]
    print(f"{sum(counts):,} spans in {len(batches)} exports, {args.clients} clients, {os.cpu_count()} cores,"
          f" load average {os.getloadavg()[0]:.1f} at the start")
    header = ["forwarding", "ingest spans/s", "receiver CPU us/span", "all arrived after s", "stop drain s"]
    rows = [run(mode, batches, counts, args.clients) for _ in range(args.repeat) for mode in MODES]
    if args.repeat > 1:
        rows += [[f"{mode} median", *(_median([row[i] for row in rows if row[0] == mode]) for i in range(1, 5))]
                 for mode in MODES]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print("  ".join(cell.rjust(width) for cell, width in zip(row, widths, strict=True)))
    cpu = {mode: float(_median([row[2] for row in rows if row[0] == mode])) for mode in MODES}
    print(f"forwarding adds {cpu['live'] - cpu['off']:.1f} us of receiver CPU per span to a live endpoint, "
          f"{cpu['down'] - cpu['off']:.1f} us while the destination is down (medians of {args.repeat}; "
          f"load average {os.getloadavg()[0]:.1f} at the end)")


MODES = ("off", "live", "down")


def _median(cells: list[str]) -> str:
    """The median of a column's cells (as printed: thousands separators, '-' for none)."""
    values = sorted(float(cell.replace(",", "")) for cell in cells if cell != "-")
    if not values:
        return "-"
    middle = len(values) // 2
    value = values[middle] if len(values) % 2 else (values[middle - 1] + values[middle]) / 2
    return f"{value:,.1f}"


if __name__ == "__main__":
    main()
