#!/usr/bin/env python
"""Ingest end to end: a real receiver (`otel-llmcost serve`, default settings, every port picked free) fed
by OTLP senders in their own processes, half over HTTP/protobuf and half over gRPC.

    python bench/ingest.py [--mix half|firehose|both] [--spans N] [--senders 4] [--rates 5000,20000]
                           [--seconds 10] [--workers 1,2,4]

For each mix (half: half the spans are LLM calls; firehose: 5 % LLM calls in deep app traces):
1. as fast as it goes: the senders send --spans spans, each export as soon as the last was acknowledged
   (two in flight per sender); end to end = spans / (first send -> every row and trace span queryable);
   receiver CPU per span over that time; its peak RSS (VmHWM), and its RSS over time (the tree's VmRSS added
   up, sampled every 0.2 s: the largest of each tenth of the run, and when the peak came).
2. paced: each offered rate for --seconds; acknowledgement latency p50/p99, measured from each export's
   scheduled send time, so a receiver that falls behind is charged for the wait (no coordinated omission).
A fresh receiver per run, for each --workers count (receiver.workers: ingest worker processes); CPU and
peak RSS are those of the receiver's whole process tree (RSS: each process's peak, added up). Prints
figures only; the machine's load goes with them.
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import grpc

from otel_llmcost.store.remote import RemoteStore
from store_ready import wait_store_open  # bench/ is on sys.path when run as a script
from workload import BATCH, make_batches, make_firehose  # bench/ is on sys.path when run as a script

EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
MIXES = {"half": "half the spans LLM calls", "firehose": "5% LLM calls in deep app traces"}
TARGETS = {"half": 50_000, "firehose": 100_000}  # end-to-end spans/s (issue 17)


def build(mix: str, spans: int, seed: int) -> tuple[list[bytes], list[int], int]:
    """(export bodies, spans per export, LLM calls) of one sender's share."""
    if mix == "half":
        batches, counts, _traces, calls = make_batches(spans, 0.5, seed=seed)
    else:
        batches, counts, _traces, calls = make_firehose(spans, 0.05, seed=seed)
    return batches, counts, calls


class Transport:
    """One connection; send() returns once the export is acknowledged, retrying while it is refused."""

    def __init__(self, kind: str, ports: dict[str, int]):
        self.kind, self.retries = kind, 0
        if kind == "grpc":
            self._channel = grpc.insecure_channel(f"127.0.0.1:{ports['grpc_port']}")
            self._export = self._channel.unary_unary(EXPORT)  # raw bytes out and in
        else:
            self._http = http.client.HTTPConnection("127.0.0.1", ports["http_port"], timeout=120)

    def send(self, body: bytes) -> None:
        while True:
            if self.kind == "grpc":
                try:
                    self._export(body, timeout=120)
                    return
                except grpc.RpcError as exc:  # UNAVAILABLE: "retry later", as OTLP exporters do
                    if exc.code() != grpc.StatusCode.UNAVAILABLE:
                        raise
            else:
                self._http.request("POST", "/v1/traces", body, {"Content-Type": "application/x-protobuf"})
                response = self._http.getresponse()
                response.read()
                if response.status == 200:
                    return
                if response.status not in (429, 503):
                    raise RuntimeError(f"HTTP {response.status}")
            self.retries += 1
            time.sleep(0.05)

    def close(self) -> None:
        if self.kind == "grpc":
            self._channel.close()
        else:
            self._http.close()


def sender(index: int, mix: str, spans: int, kind: str, ports: dict[str, int], rate: float,
           go: multiprocessing.synchronize.Event, results: multiprocessing.Queue) -> None:
    """One sender process: builds its exports, waits for `go`, sends them (paced at `rate` spans/s when
    rate > 0), reports (LLM calls, spans, latencies, retries, first send, last ack)."""
    batches, counts, calls = build(mix, spans, seed=1000 + index)
    results.put(("ready", index))
    go.wait()
    began = time.time()
    latencies: list[float] = []
    todo = iter(range(len(batches)))  # next() on a range iterator is atomic under the GIL
    lock = threading.Lock()
    retries = [0]
    in_flight = 2 if rate <= 0 else 8  # paced: enough connections that a slow ack does not delay the next send

    def run() -> None:
        transport = Transport(kind, ports)
        while (i := next(todo, None)) is not None:
            due = began + (i * BATCH / rate if rate > 0 else 0.0)
            if rate > 0 and (wait := due - time.time()) > 0:
                time.sleep(wait)
            transport.send(batches[i])
            done = time.time()
            with lock:
                latencies.append(done - (due if rate > 0 else done))
        with lock:
            retries[0] += transport.retries
        transport.close()

    threads = [threading.Thread(target=run) for _ in range(in_flight)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    results.put(("done", index, calls, sum(counts), latencies, retries[0], began, time.time()))


@dataclass
class Receiver:
    proc: subprocess.Popen
    tmp: Path
    ports: dict
    ready_seconds: float

    @classmethod
    def start(cls, workers: int) -> Receiver:
        tmp = Path(tempfile.mkdtemp(prefix="llmcost-ingest-bench-"))
        (tmp / "config.yaml").write_text("log_level: WARNING\n")
        command = [sys.executable, "-m", "otel_llmcost", "serve", "--config", str(tmp / "config.yaml"),
                   "--data-dir", str(tmp / "data"), "--host", "127.0.0.1", "--grpc-port", "0", "--http-port", "0",
                   "--query-port", "0", "--workers", str(workers)]
        began = time.perf_counter()
        with open(tmp / "receiver.log", "w") as log:  # a file, not a pipe: an unread pipe can block the receiver
            proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=log, text=True)
        line = proc.stdout.readline()
        if not line:
            raise SystemExit(f"receiver did not start: {(tmp / 'receiver.log').read_text()[-2000:]}")
        ports = json.loads(line)
        wait_store_open(ports["http_port"], 120, lambda: proc.poll() is None)  # rows are stored from then on
        return cls(proc, tmp, ports, time.perf_counter() - began)

    def processes(self) -> list[int]:
        """The receiver and its descendants (ingest workers)."""
        found, todo = [], [self.proc.pid]
        while todo:
            pid = todo.pop()
            found.append(pid)
            for task in Path(f"/proc/{pid}/task").glob("*"):
                try:
                    todo += [int(child) for child in (task / "children").read_text().split()]
                except OSError:  # the task ended meanwhile
                    continue
        return found

    def cpu_seconds(self, main_only: bool = False) -> float:
        """CPU of the receiver's process tree (or of its main process alone: listeners, routing, the store)."""
        total = 0
        for pid in [self.proc.pid] if main_only else self.processes():
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        return total / os.sysconf("SC_CLK_TCK")

    def cpu_by_part(self) -> dict[str, float]:
        """CPU seconds of each part of the tree: the main process's Python threads (listeners, routing, the
        store owner's calls) and its chDB threads (named by the engine), and each worker process."""
        parts: dict[str, float] = {}
        for pid in self.processes():
            if pid != self.proc.pid:
                parts[f"worker {pid}"] = _cpu(Path(f"/proc/{pid}/stat"))
                continue
            main_comm = Path(f"/proc/{pid}/comm").read_text().strip()
            for task in Path(f"/proc/{pid}/task").glob("*"):
                try:
                    part = "main python" if (task / "comm").read_text().strip() == main_comm else "main chDB"
                    parts[part] = parts.get(part, 0.0) + _cpu(task / "stat")
                except OSError:  # the thread ended meanwhile
                    continue
        return parts

    def peak_rss_mb(self) -> float:
        return sum(self.peak_rss_mb_by_process().values())

    def peak_rss_mb_by_process(self) -> dict[str, float]:
        peaks = {}
        for pid in self.processes():
            status = Path(f"/proc/{pid}/status").read_text().splitlines()
            name = "main" if pid == self.proc.pid else f"worker {pid}"
            peaks[name] = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:")) / 1024
        return peaks

    def rss_mb(self) -> float:
        """The tree's resident memory now (each process's VmRSS, added up)."""
        total = 0
        for pid in self.processes():
            try:
                status = Path(f"/proc/{pid}/status").read_text()
            except OSError:  # the process ended meanwhile
                continue
            total += int(status.split("VmRSS:")[1].split()[0])
        return total / 1024

    def memory_parts_mb(self) -> tuple[float, float]:
        """(bytes the buffer charges against its cap, chDB's MemoryTracking) in MB; 0.0 for what cannot be read."""
        buffered = engine = 0.0
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.ports['http_port']}/metrics", timeout=5) as page:
                for line in page.read().decode().splitlines():
                    if line.startswith("llmcost_buffered_bytes "):
                        buffered = float(line.split()[1]) / 2 ** 20
            reader = RemoteStore.of_running_receiver(str(self.tmp / "data"), "llmcost")
            if reader is not None:
                engine = float(reader.query("SELECT value FROM system.metrics WHERE metric = 'MemoryTracking'")
                               [0]["value"]) / 2 ** 20
        except (OSError, ValueError, IndexError, KeyError):
            pass
        return buffered, engine

    def counts(self) -> tuple[int, int]:
        reader = RemoteStore.of_running_receiver(str(self.tmp / "data"), "llmcost")
        assert reader is not None
        calls = reader.query("SELECT count() AS n FROM llm_usage")[0]["n"]
        spans = reader.query("SELECT count() AS n FROM otel_traces")[0]["n"]
        return int(calls), int(spans)

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout=300)
        if code == 0:
            shutil.rmtree(self.tmp)
        else:
            print(f"  receiver exited {code}; its log stays in {self.tmp}")


class RssSampler:
    """Samples the receiver tree's RSS every `every` seconds on a thread, from start() until stop()."""

    def __init__(self, receiver: Receiver, every: float = 0.2):
        self._receiver, self._every = receiver, every
        self.samples: list[tuple[float, float]] = []  # (seconds since start, MB)
        self.parts: list[tuple[float, float, float]] = []  # (seconds, buffered MB charged, chDB MemoryTracking MB)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self._began = time.time()
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        ticks = 0
        while not self._stop.wait(self._every):
            try:
                self.samples.append((time.time() - self._began, self._receiver.rss_mb()))
            except (OSError, IndexError, ValueError):  # a process of the tree ended mid-read
                continue
            ticks += 1
            if ticks % 5 == 0:  # once a second: what the buffer and the engine hold (a query, a /metrics read)
                self.parts.append((time.time() - self._began, *self._receiver.memory_parts_mb()))

    def summary(self, buckets: int = 10) -> str:
        """The largest sample of each tenth of the run, and the peak with its time."""
        if not self.samples:
            return "no samples"
        end = self.samples[-1][0] or 1.0
        tops = [0.0] * buckets
        for at, mb in self.samples:
            index = min(buckets - 1, int(at / end * buckets))
            tops[index] = max(tops[index], mb)
        at, peak = max(self.samples, key=lambda sample: sample[1])
        near = min(self.parts, key=lambda part: abs(part[0] - at), default=(at, 0.0, 0.0))
        top_buffer, top_engine = (max((part[i] for part in self.parts), default=0.0) for i in (1, 2))
        return (f"peak {peak:.0f} at {at:.1f}/{end:.1f} s (then buffer {near[1]:.0f} charged, chDB {near[2]:.0f}; "
                f"most: buffer {top_buffer:.0f}, chDB {top_engine:.0f}); by tenth: "
                + " ".join(f"{mb:.0f}" for mb in tops))


def _cpu(stat: Path) -> float:
    fields = stat.read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_once(mix: str, spans: int, senders: int, rate: float, workers: int) -> dict:
    """One receiver, `senders` processes sharing `spans` spans (and `rate`); returns the figures."""
    receiver = Receiver.start(workers)
    try:
        return _measure(receiver, mix, spans, senders, rate)
    finally:
        receiver.stop()


def _measure(receiver: Receiver, mix: str, spans: int, senders: int, rate: float) -> dict:
    context = multiprocessing.get_context("spawn")
    go, results = context.Event(), context.Queue()
    kinds = ["http" if i % 2 == 0 else "grpc" for i in range(senders)]
    procs = [context.Process(target=sender, args=(i, mix, spans // senders, kinds[i], receiver.ports,
                                                  rate / senders, go, results)) for i in range(senders)]
    for proc in procs:
        proc.start()
    for _ in procs:
        assert results.get(timeout=600)[0] == "ready"
    cpu_before, main_cpu_before = receiver.cpu_seconds(), receiver.cpu_seconds(main_only=True)
    parts_before = receiver.cpu_by_part()
    load_before = os.getloadavg()[0]
    sampler = RssSampler(receiver)
    sampler.start()
    go.set()
    done = [results.get(timeout=1800) for _ in procs]
    for proc in procs:
        proc.join()
    calls, sent = sum(d[2] for d in done), sum(d[3] for d in done)
    first_send, last_ack = min(d[6] for d in done), max(d[7] for d in done)
    # Queryable: every call row, and every span of a trace with a call (all of them in both mixes) - or, once
    # the calls are in, the spans stop growing for 3 s: with traces.keep llm, spans of a trace that arrive
    # after its calls were released (a trace cut off by max_trace_wait_seconds) are not kept.
    grown_at, last_spans = time.time(), -1
    while True:
        stored_calls, stored_spans = receiver.counts()
        if stored_spans != last_spans:
            grown_at, last_spans = time.time(), stored_spans
        if stored_calls >= calls and (stored_spans >= sent or time.time() - grown_at > 3):
            break
        if time.time() - last_ack > 300:
            raise SystemExit(f"not queryable 300 s after the last ack: {stored_calls}/{calls} calls, "
                             f"{stored_spans}/{sent} spans")
        time.sleep(0.5)  # each probe is a query the receiver answers: not so often that it counts in its CPU
    queryable = grown_at if stored_spans < sent else time.time()
    sampler.stop()
    cpu = receiver.cpu_seconds() - cpu_before
    main_cpu = receiver.cpu_seconds(main_only=True) - main_cpu_before
    parts = {name: (seconds - parts_before.get(name, 0.0)) / sent * 1e6
             for name, seconds in receiver.cpu_by_part().items()}
    figures = {
        "spans": sent, "calls": calls, "ack_rate": sent / (last_ack - first_send),
        "e2e_rate": sent / (queryable - first_send), "lag_after_last_ack": queryable - last_ack,
        "cpu_us_per_span": cpu / sent * 1e6, "receiver_cores": cpu / (queryable - first_send),
        "main_cpu_us_per_span": main_cpu / sent * 1e6, "cpu_us_per_span_by_part": parts,
        "peak_rss_mb": receiver.peak_rss_mb(), "peak_rss_mb_by_process": receiver.peak_rss_mb_by_process(),
        "ready_seconds": receiver.ready_seconds, "rss_over_time": sampler.summary(),
        "retries": sum(d[5] for d in done), "load": (load_before, os.getloadavg()[0]),
        "stored": (stored_calls, stored_spans),
    }
    latencies = sorted(latency for d in done for latency in d[4])
    if rate > 0 and latencies:
        figures.update(p50_ms=statistics.median(latencies) * 1e3,
                       p99_ms=latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1e3,
                       offered=rate, achieved=sent / (last_ack - first_send))
    return figures


def table(header: list[str], rows: list[list[str]]) -> None:
    widths = [max(map(len, column)) for column in zip(header, *rows, strict=True)]
    for row in [header, *rows]:
        print("  ".join(cell.ljust(w) if i == 0 else cell.rjust(w)
                        for i, (cell, w) in enumerate(zip(row, widths, strict=True))))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mix", choices=["half", "firehose", "both"], default="both")
    parser.add_argument("--spans", type=int, default=200_000, help="spans of the as-fast-as-it-goes run")
    parser.add_argument("--senders", type=int, default=4, help="sender processes, alternately HTTP and gRPC")
    parser.add_argument("--rates", default="5000,20000", help="offered spans/s of the paced runs ('' for none)")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each paced run")
    parser.add_argument("--workers", default="1,2,4", help="receiver.workers counts to measure, one receiver each")
    args = parser.parse_args()
    rates = [float(rate) for rate in args.rates.split(",") if rate]
    counts = [int(count) for count in args.workers.split(",")]
    print(f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}, Python {sys.version.split()[0]}; "
          f"{args.senders} sender processes (HTTP and gRPC alternately), {BATCH} spans per export; "
          "receiver: default settings (spool fsync on, traces.keep llm) but receiver.workers")
    for mix in (["half", "firehose"] if args.mix == "both" else [args.mix]):
        print(f"\n== {mix}: {MIXES[mix]}; as fast as it goes: {args.spans:,} spans; target "
              f"{TARGETS[mix]:,} spans/s end to end")
        rows = []
        for workers in counts:
            fast = run_once(mix, args.spans, args.senders, 0, workers)
            row = [str(workers), f"{fast['ready_seconds']:.2f}", f"{fast['ack_rate']:,.0f}", f"{fast['e2e_rate']:,.0f}",
                   f"{fast['lag_after_last_ack']:.1f}", f"{fast['cpu_us_per_span']:.1f}",
                   f"{fast['main_cpu_us_per_span']:.1f}",
                   f"{fast['receiver_cores']:.2f}", f"{fast['peak_rss_mb']:.0f}", f"{fast['retries']:,}",
                   f"{fast['spans'] - fast['stored'][1]:,}", f"{fast['load'][0]:.1f}->{fast['load'][1]:.1f}"]
            for rate in rates:
                paced = run_once(mix, int(rate * args.seconds), args.senders, rate, workers)
                row += [f"{paced['achieved']:,.0f}", f"{paced['p50_ms']:.0f}/{paced['p99_ms']:.0f}",
                        f"{paced['peak_rss_mb']:.0f}"]
            rows.append(row)
            print("  ".join(row), flush=True)
            print("    CPU µs/span by part: " + ", ".join(
                f"{name} {us:.1f}" for name, us in sorted(fast["cpu_us_per_span_by_part"].items()))
                + "; peak RSS MB: " + ", ".join(
                f"{name} {mb:.0f}" for name, mb in sorted(fast["peak_rss_mb_by_process"].items())), flush=True)
            print(f"    RSS MB over time (whole tree): {fast['rss_over_time']}", flush=True)
        paced_header = [title for rate in rates for title in (
            f"acked/s @{rate:,.0f}", f"ack p50/p99 ms @{rate:,.0f}", f"RSS MB @{rate:,.0f}")]
        table(["workers", "ready s", "acked/s", "end to end/s", "lag s", "CPU µs/span", "of it main process",
               "cores", "peak RSS MB",
               "retries", "spans not kept", "load", *paced_header], rows)


if __name__ == "__main__":
    main()
