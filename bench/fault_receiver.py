"""The receiver under test in bench/faults.py: `otel-llmcost serve` as a process on fixed ports, and the
count of what its store holds once it has stopped.
"""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import yaml

from fault_traffic import TENANT, Key  # bench/ is on sys.path when faults.py is run as a script
from store_ready import wait_store_open

# Short waits, as tests/conftest.py: a trace whose root arrived is written at the next 0.2 s flush.
CONFIG = {"spool_fsync": True, "log_level": "INFO", "store": {"flush_interval_seconds": 0.2},
          "attribution": {"trace_wait_seconds": 1.0, "max_trace_wait_seconds": 10.0}}


STORED_TABLES = ("llm_usage", "rejected_calls")  # priced rows (clamped values included), dead letters


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ReceiverProcess:
    """`otel-llmcost serve` on OTLP ports fixed for the whole scenario, so exporters find it again after a
    restart; its query listener on a free port of its own (never the default 8123 another receiver holds)."""

    def __init__(self, data_dir: Path, config: dict | None = None, extra_args: tuple[str, ...] = ()):
        self.data_dir = data_dir
        self.http_port, self.grpc_port = free_port(), free_port()
        self.config_file = data_dir.parent / f"{data_dir.name}-config.yaml"
        self.config_file.write_text(yaml.safe_dump({**CONFIG, **(config or {})}))
        self.extra_args = extra_args
        self.process: subprocess.Popen | None = None
        self.starts, self.events = 0, []  # events: how each run ended, for the notes column
        self.query_port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}/v1/traces"

    def start(self, timeout: float = 60.0) -> bool:
        """Start and wait for the ready line and the store open; False (with the reason in events) if it exits
        first."""
        self.starts += 1
        log = open(self.data_dir.parent / f"{self.data_dir.name}-receiver.log", "a")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "otel_llmcost", "serve", "--config", str(self.config_file), "--data-dir",
             str(self.data_dir), "--host", "127.0.0.1", "--grpc-port", str(self.grpc_port),
             "--http-port", str(self.http_port), "--query-port", "0", *self.extra_args],
            stdout=subprocess.PIPE, stderr=log, text=True)
        log.close()
        ready = _readline(self.process.stdout, timeout)
        if not ready:
            self.stop(5)
            self.events.append(f"start {self.starts} failed (exit {self.process.returncode}): {self.last_log_line()}")
            return False
        self.query_port = json.loads(ready)["query_port"]
        # A fault then hits a receiver with its store open; a store that cannot open stops it: a failed start.
        if wait_store_open(self.http_port, timeout, self.alive) is None:
            self.stop(5)
            self.events.append(f"start {self.starts} stopped (exit {self.process.returncode}): {self.last_log_line()}")
            return False
        return True

    def peak_rss_mb(self) -> float:
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        return int(status.split("VmHWM:")[1].split()[0]) / 1024

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def stop(self, timeout: float = 30.0) -> float:
        """SIGTERM; a receiver that has not exited after `timeout` s is killed (noted). Returns the seconds."""
        began = time.monotonic()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            code = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            self.events.append(f"SIGTERM hung >{timeout:.0f}s, killed")
            return time.monotonic() - began
        if code:
            self.events.append(f"exit {code} ({signal.Signals(-code).name if code < 0 else 'error'})")
        return time.monotonic() - began

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log_text(self) -> str:
        return (self.data_dir.parent / f"{self.data_dir.name}-receiver.log").read_text(errors="replace")

    def last_log_line(self) -> str:
        lines = [line for line in self.log_text().splitlines() if line.strip()]
        return lines[-1][:160] if lines else ""

    def spool_segments(self) -> int:
        return len(list((self.data_dir / "spool").rglob("*.jsonl")))  # spool/worker-<n>/ with several workers

    def worker_pids(self) -> list[int]:
        """The ingest worker processes (receiver.workers above 1), found as the receiver's spawned children."""
        pids = []
        for task in Path(f"/proc/{self.process.pid}/task").glob("*"):
            try:
                children = (task / "children").read_text().split()
            except OSError:
                continue
            for child in map(int, children):
                try:
                    if b"spawn_main" in Path(f"/proc/{child}/cmdline").read_bytes():
                        pids.append(child)
                except OSError:
                    continue
        return pids

    def stored(self) -> tuple[dict[str, dict[Key, int]], set[Key]]:
        """Rows per call in each of llm_usage and rejected_calls (a dead-lettered call is kept, not lost), and
        the calls stored in llm_usage without the tenant their root span carries; only with the receiver
        stopped (`sql` then reads the store in-process, through the query guard)."""
        counts: dict[str, dict[Key, int]] = {}
        unattributed: set[Key] = set()
        for table in STORED_TABLES:
            other_tenant = f"countIf(tenant_id != '{TENANT}')" if table == "llm_usage" else "0"
            sql = (f"SELECT trace_id, span_id, count() AS n, {other_tenant} AS unattributed "
                   f"FROM llmcost.{table} GROUP BY trace_id, span_id")
            result = subprocess.run([sys.executable, "-m", "otel_llmcost", "sql", "--data-dir", str(self.data_dir),
                                     sql], capture_output=True, text=True, timeout=300)
            if result.returncode:
                raise RuntimeError(f"counting rows of {table} failed: {result.stderr.strip()[-300:]}")
            counts[table] = {}
            for line in result.stdout.splitlines():
                row = json.loads(line)
                key = (row["trace_id"], row["span_id"])
                counts[table][key] = int(row["n"])
                if int(row["unattributed"]):
                    unattributed.add(key)
        return counts, unattributed


def _readline(stream, timeout: float) -> str:
    out: list[str] = []
    reader = threading.Thread(target=lambda: out.append(stream.readline()), daemon=True)
    reader.start()
    reader.join(timeout)
    return out[0] if out else ""
