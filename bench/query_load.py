#!/usr/bin/env python
"""Does ingest keep its rate while dashboards query? One receiver, OTLP/gRPC senders in alternating phases
of equal length: ingest alone, then ingest while threads run dashboard-like queries on the query listener.

    python bench/query_load.py [--seconds S] [--cycles N] [--clients C] [--query-threads Q] [--refresh S]

Prints figures only, no pass/fail.
"""

import argparse
import json
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path

import grpc
import yaml
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse as Response

sys.path.insert(0, str(Path(__file__).parent))
from workload import make_batches  # noqa: E402

EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
# What a cost dashboard asks: totals, a time series, a top list, a latency panel, schema browsing.
DASHBOARD = [
    "SELECT sum(cost_usd), count() FROM llmcost.llm_usage WHERE ts >= now() - INTERVAL 1 DAY",
    "SELECT toStartOfMinute(ts) AS t, provider, sum(cost_usd) FROM llmcost.llm_usage"
    " WHERE ts >= now() - INTERVAL 1 DAY GROUP BY t, provider ORDER BY t",
    "SELECT feature, tenant_id, sum(cost_usd) AS c FROM llmcost.llm_usage GROUP BY ALL ORDER BY c DESC LIMIT 10",
    "SELECT request_model, quantiles(0.5, 0.95, 0.99)(latency_ms) FROM llmcost.llm_usage GROUP BY request_model",
    "SELECT database, table, name, type FROM system.columns WHERE database = 'llmcost'",
]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=10, help="length of each phase")
    parser.add_argument("--cycles", type=int, default=2, help="pairs of phases: without, then with queries")
    parser.add_argument("--clients", type=int, default=2)
    parser.add_argument("--query-threads", type=int, default=4)
    parser.add_argument("--spans", type=int, default=1_500_000)
    parser.add_argument("--refresh", type=float, default=0.0,
                        help="seconds each query thread waits between dashboard refreshes (0: back to back)")
    args = parser.parse_args()
    batches, counts, _, _ = make_batches(args.spans, 0.25)
    tmp = Path(tempfile.mkdtemp(prefix="llmcost-qbench-"))
    (tmp / "config.yaml").write_text(yaml.safe_dump({"log_level": "WARNING", "store": {"flush_interval_seconds": 0.5}}))
    with open(tmp / "receiver.log", "w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "otel_llmcost", "serve", "--config", str(tmp / "config.yaml"), "--data-dir",
             str(tmp / "data"), "--host", "127.0.0.1", "--grpc-port", "0", "--http-port", "0", "--query-port", "0"],
            stdout=subprocess.PIPE, stderr=log, text=True)
    ready = json.loads(proc.stdout.readline())
    todo = iter(range(len(batches)))
    rates: dict[bool, list[float]] = {False: [], True: []}
    latencies: list[float] = []
    errors: list[str] = []
    try:
        for phase in range(2 * args.cycles):  # alternate, so a slower machine or a bigger store hits both
            with_queries = phase % 2 == 1
            stop = threading.Event()
            queriers = [threading.Thread(target=query_loop,
                                         args=(ready["query_port"], stop, latencies, errors, args.refresh))
                        for _ in range(args.query_threads if with_queries else 0)]
            for thread in queriers:
                thread.start()
            rates[with_queries].append(ingest(ready["grpc_port"], batches, counts, todo, args.clients, args.seconds))
            stop.set()
            for thread in queriers:
                thread.join()
            print(f"phase {phase + 1}: {'with' if with_queries else 'without'} dashboards: "
                  f"{rates[with_queries][-1]:,.0f} spans/s", flush=True)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=300)
    alone, loaded = (sum(rates[k]) / len(rates[k]) for k in (False, True))
    latencies.sort()
    print(f"ingest alone:        {alone:,.0f} spans/s acknowledged (mean; {args.clients} gRPC clients)")
    print(f"ingest + dashboards: {loaded:,.0f} spans/s acknowledged ({loaded / alone:.0%} of alone)")
    if latencies:
        total = args.seconds * args.cycles
        print(f"queries: {len(latencies)} answered in {total:.0f} s by {args.query_threads} threads "
              f"(refresh every {args.refresh:g} s), p50 {latencies[len(latencies) // 2] * 1000:.0f} ms, "
              f"p95 {latencies[int(len(latencies) * .95)] * 1000:.0f} ms, "
              f"{len(errors)} errors{': ' + errors[0] if errors else ''}")


def ingest(port: int, batches, counts, todo, clients: int, seconds: float) -> float:
    accepted, deadline = [0] * clients, time.monotonic() + seconds

    def client(k: int) -> None:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            export = channel.unary_unary(EXPORT)
            while time.monotonic() < deadline and (index := next(todo, None)) is not None:
                while True:
                    try:
                        reply = Response.FromString(export(batches[index], timeout=120))
                        break
                    except grpc.RpcError as exc:
                        if exc.code() != grpc.StatusCode.UNAVAILABLE:
                            raise
                        time.sleep(0.05)
                accepted[k] += counts[index] - reply.partial_success.rejected_spans

    began = time.monotonic()
    threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(accepted) / (time.monotonic() - began)


def query_loop(port: int, stop: threading.Event, latencies: list, errors: list, refresh: float) -> None:
    while not stop.wait(refresh):
        for sql in DASHBOARD:
            began = time.monotonic()
            url = f"http://127.0.0.1:{port}/?" + urllib.parse.urlencode({"default_format": "JSONCompact"})
            try:
                with urllib.request.urlopen(urllib.request.Request(url, data=sql.encode()), timeout=120) as answer:
                    answer.read()
                latencies.append(time.monotonic() - began)
            except OSError as exc:
                errors.append(str(exc))


if __name__ == "__main__":
    main()
