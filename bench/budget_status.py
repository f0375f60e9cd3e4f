"""The budget status endpoint a gateway calls before each LLM call, on a real receiver (`otel-llmcost serve`)
over generated usage (bench/usage_generator.py: 50 tenants, 12 features, 100 users, 4 projects, 3 keys each)
with a budget at every level for every tenant (tenant month and day, each feature, user, project and key).

A gateway's HTTP client keeps its connection and asks GET /api/v1/budgets/status with a tenant and a random
feature, user, project and key of it: an admin key over every tenant, then a tenant key for its own. Printed:
wall time per answer (p50/p95/p99) and the receiver process's CPU per answer (/proc: every thread), first
idle, then while OTLP exports arrive (the ledger advancing); then whether the endpoint's month equals the
stored rows' sum for every tenant. The load average goes with every figure.

    python bench/budget_status.py --rows 1000000 --requests 2000 --ingest-seconds 20 [--workers 2]
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path

import chdb
import grpc
import yaml
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from otel_llmcost.keys import QUERY, KeyStore
from otel_llmcost.store.chdb_store import ChdbStore
from usage_generator import generate
from workload import make_batches

TARGET_MS = 10
FEATURES, USERS, PROJECTS, KEYS = 12, 100, 4, 3  # per tenant, as usage_generator makes them
EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
_TICK = os.sysconf("SC_CLK_TCK")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=35)
    parser.add_argument("--requests", type=int, default=2000, help="per phase and key kind")
    parser.add_argument("--ingest-seconds", type=float, default=20, help="0: no phase under ingest")
    parser.add_argument("--workers", type=int, default=1, help="receiver.workers (ingest worker processes)")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="llmcost-budgets-"))
    data = root / "data"
    store = ChdbStore(str(data / "chdb"), "llmcost")
    store.ensure_schema()
    store.close()
    conn = chdb.connect(str(data / "chdb"))
    took = generate(conn, args.rows, args.days, datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0))
    tenants = conn.query("SELECT DISTINCT tenant_id FROM llmcost.usage_daily ORDER BY tenant_id",
                         "TabSeparated").bytes().decode().split()
    conn.close()
    budgets = _budgets(tenants)
    (root / "alerts.yaml").write_text(yaml.safe_dump({"budgets": budgets}))
    print(f"{args.rows:,} rows over {args.days} days generated in {took:.0f} s; {len(tenants)} tenants, "
          f"{len(budgets):,} budgets")
    keys = KeyStore(data / "keys.json")
    _, admin = keys.create(None, (QUERY,))
    _, own = keys.create(tenants[0], (QUERY,))
    (root / "config.yaml").write_text(yaml.safe_dump({"log_level": "WARNING", "store": {"flush_interval_seconds": 0.5},
                                                      "receiver": {"workers": args.workers},
                                                      "alerts": {"file": str(root / "alerts.yaml")}}))
    began = time.perf_counter()
    with open(root / "receiver.log", "w") as log:
        receiver = subprocess.Popen(
            [sys.executable, "-m", "otel_llmcost", "serve", "--config", str(root / "config.yaml"), "--data-dir",
             str(data), "--host", "127.0.0.1", "--grpc-port", "0", "--http-port", "0", "--query-port", "0"],
            stdout=subprocess.PIPE, stderr=log, text=True)
    ready = json.loads(receiver.stdout.readline() or "{}")
    if not ready:
        print((root / "receiver.log").read_text(), file=sys.stderr)
        return 1
    print(f"receiver ready in {time.perf_counter() - began:.1f} s (the ledger seeded from the rollups)")
    gateway = Gateway(ready["query_port"])
    try:
        for tenant in tenants:  # the connection opened, the code paths warm
            gateway.month(admin, tenant)
        for phase in ("idle", "under ingest") if args.ingest_seconds else ("idle",):
            sender = Sender(ready["grpc_port"], args.ingest_seconds) if phase != "idle" else None
            for label, secret, who in (("admin key", admin, tenants), ("tenant key", own, tenants[:1])):
                _measure(gateway, receiver.pid, secret, who, args.requests, f"{phase:12} {label:10}", sender is None)
            if sender is not None:
                print(f"  meanwhile {sender.finish():,.0f} spans/s acknowledged (OTLP/gRPC, 25% LLM calls)")
        wrong = tenants
        for _ in range(60):  # until the last traces are released and stored
            wrong = [t for t in wrong if gateway.month(admin, t) != _stored(ready["query_port"], admin, t)]
            if not wrong:
                break
            time.sleep(1)
        print(f"the endpoint's month equals the stored rows' sum for {len(tenants) - len(wrong)} of {len(tenants)} "
              f"tenants{': wrong for ' + ', '.join(wrong) if wrong else ''}")
    finally:
        receiver.send_signal(signal.SIGTERM)
        receiver.wait(timeout=300)
    return 0


def _budgets(tenants: list[str]) -> list[dict]:
    budgets = []
    for tenant in tenants:
        budgets += [{"tenant": tenant, "usd": "100000"}, {"tenant": tenant, "period": "daily", "usd": "5000"}]
        budgets += [{"tenant": tenant, "feature": f"feature-{n}", "usd": "20000"} for n in range(FEATURES)]
        budgets += [{"tenant": tenant, "user": f"{tenant}-user-{n}", "period": "daily", "usd": "50"}
                    for n in range(USERS)]
        budgets += [{"tenant": tenant, "project": f"project-{n}", "usd": "30000"} for n in range(PROJECTS)]
        budgets += [{"tenant": tenant, "key": f"{tenant}-key-{n}", "period": "daily", "usd": "2000"}
                    for n in range(KEYS)]
    return budgets


class Gateway:
    """One kept-alive HTTP connection, as a gateway's client holds it."""

    def __init__(self, port: int):
        self._connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    def ask(self, secret: str, params: dict[str, str]) -> dict:
        auth = "Basic " + base64.b64encode(f"default:{secret}".encode()).decode()
        self._connection.request("GET", "/api/v1/budgets/status?" + urllib.parse.urlencode(params),
                                 headers={"Authorization": auth})
        answer = self._connection.getresponse()
        body = answer.read()
        if answer.status != 200:
            raise RuntimeError(f"{answer.status}: {body[:300]!r}")
        return json.loads(body)

    def month(self, secret: str, tenant: str) -> Decimal:
        body = self.ask(secret, {"tenant": tenant})
        return Decimal(next(b["spent_usd"] for b in body["budgets"] if b["budget"] == "tenant"
                            and b["period"] == "monthly"))


def _measure(gateway: Gateway, pid: int, secret: str, tenants: list[str], requests: int, label: str,
             cpu: bool) -> None:
    rng = random.Random(7)
    load = os.getloadavg()[0]
    timings = []
    cpu_before = _cpu_seconds(pid)
    for _ in range(requests):
        tenant = rng.choice(tenants)
        params = {"tenant": tenant, "feature": f"feature-{rng.randrange(FEATURES)}",
                  "user": f"{tenant}-user-{rng.randrange(USERS)}", "project": f"project-{rng.randrange(PROJECTS)}",
                  "key": f"{tenant}-key-{rng.randrange(KEYS)}"}
        began = time.perf_counter()
        body = gateway.ask(secret, params)
        timings.append((time.perf_counter() - began) * 1000)
        assert len(body["budgets"]) == 6, body  # a budget at every level applies
    used = (_cpu_seconds(pid) - cpu_before) / requests * 1e6
    p50, p95, p99 = (statistics.quantiles(timings, n=100)[i] for i in (49, 94, 98))
    print(f"{label}  p50 {p50:6.2f} ms  p95 {p95:6.2f} ms  p99 {p99:6.2f} ms  max {max(timings):7.2f} ms  "
          + (f"receiver CPU {used:5.0f} µs/answer  " if cpu else "")
          + f"load {load:.1f}->{os.getloadavg()[0]:.1f}  ({'within' if p99 <= TARGET_MS else 'over'} "
          f"{TARGET_MS} ms at p99)")


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICK  # utime, stime: every thread of the process


def _stored(port: int, secret: str, tenant: str) -> Decimal:
    """The tenant's month summed over its stored rows, through the SQL listener."""
    sql = ("SELECT toString(sum(cost_usd)) FROM llmcost.llm_usage WHERE tenant_id = {t:String} "
           "AND ts >= toStartOfMonth(toDate(now('UTC'))) FORMAT TabSeparated")
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    auth = "Basic " + base64.b64encode(f"default:{secret}".encode()).decode()
    connection.request("POST", "/?" + urllib.parse.urlencode({"param_t": tenant}), body=sql.encode(),
                       headers={"Authorization": auth})
    answer = connection.getresponse()
    text = answer.read().decode().strip()
    connection.close()
    return Decimal(text or 0)


class Sender:
    """OTLP/gRPC exports, back to back on one channel, until `seconds` are over."""

    def __init__(self, port: int, seconds: float):
        self._batches, self._counts, _, _ = make_batches(200_000, 0.25)
        self._port, self._deadline, self.spans = port, time.monotonic() + seconds, 0
        self._began = time.monotonic()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        with grpc.insecure_channel(f"127.0.0.1:{self._port}") as channel:
            export = channel.unary_unary(EXPORT)
            for body, count in zip(self._batches, self._counts, strict=True):
                if time.monotonic() >= self._deadline:
                    return
                try:
                    reply = ExportTraceServiceResponse.FromString(export(body, timeout=120))
                except grpc.RpcError:
                    time.sleep(0.05)
                    continue
                self.spans += count - reply.partial_success.rejected_spans

    def finish(self) -> float:
        self._thread.join()
        return self.spans / (time.monotonic() - self._began)


if __name__ == "__main__":
    sys.exit(main())
