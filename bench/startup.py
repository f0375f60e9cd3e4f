"""Startup time (exec to the "ready" line) and idle RSS of `otel-llmcost serve` on a fresh data directory.

    python bench/startup.py [--runs 3]

The first run on a directory also creates the store; later runs open it, as a restart does.
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
import time
from pathlib import Path


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of the process so far: unlike wall time, it hardly depends on the load."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _one_start(data_dir: str) -> tuple[float, float, float]:
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "otel_llmcost", "serve", "--data-dir", data_dir, "--host", "127.0.0.1",
         "--grpc-port", "0", "--http-port", "0", "--query-port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    line = process.stdout.readline()
    elapsed = time.perf_counter() - started
    cpu = _cpu_seconds(process.pid)
    if not line:
        raise SystemExit(f"receiver did not start: {process.stderr.read()}")
    json.loads(line)
    time.sleep(2.0)  # idle: let the first flush interval pass
    rss = _rss_mb(process.pid)
    process.send_signal(signal.SIGTERM)
    process.communicate(timeout=60)
    return elapsed, cpu, rss


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as data_dir:
        first = _one_start(data_dir)
        later = [_one_start(data_dir) for _ in range(args.runs)]
    print(f"first start (creates the store): {first[0]:.2f} s to ready ({first[1]:.2f} CPU s), "
          f"idle RSS {first[2]:.0f} MB")
    wall, cpu, rss = (statistics.median(figures) for figures in zip(*later, strict=True))
    print(f"restart, median of {args.runs}: {wall:.2f} s to ready ({cpu:.2f} CPU s), idle RSS {rss:.0f} MB")
    print(f"load average: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
