"""Idle-connection flood against `otel-llmcost serve`: open N connections that never send a request and
report the receiver's open file descriptors, whether /healthz still answers, and how much it logged.

    python bench/idle_connections.py [--connections 19000]

The client needs N descriptors itself (`ulimit -n`).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=19_000)
    args = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    with tempfile.TemporaryDirectory() as data_dir:
        process = subprocess.Popen(
            [sys.executable, "-m", "otel_llmcost", "serve", "--data-dir", data_dir, "--grpc-port", "0",
             "--http-port", "0"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        port = json.loads(process.stdout.readline())["http_port"]
        fds_before = len(os.listdir(f"/proc/{process.pid}/fd"))
        started = time.perf_counter()
        sockets, failed, peak = [], 0, fds_before
        for index in range(args.connections):
            try:
                sockets.append(socket.create_connection(("127.0.0.1", port), timeout=5))
            except OSError:
                failed += 1
            if index % 1000 == 999:
                peak = max(peak, len(os.listdir(f"/proc/{process.pid}/fd")))
        opened = time.perf_counter() - started
        probe = time.perf_counter()
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=30) as response:
            health = response.status
        probe = time.perf_counter() - probe
        peak = max(peak, len(os.listdir(f"/proc/{process.pid}/fd")))
        for sock in sockets:
            sock.close()
        process.send_signal(signal.SIGTERM)
        _, log = process.communicate(timeout=120)
    print(f"{args.connections} idle connections opened in {opened:.1f} s ({failed} failed to connect)")
    print(f"receiver descriptors: {fds_before} before, {peak} at most during the flood")
    print(f"/healthz during the flood: {health} in {probe * 1000:.0f} ms; log: {len(log)} bytes, "
          f"{len(log.splitlines())} lines; exit {process.returncode}")


if __name__ == "__main__":
    main()
