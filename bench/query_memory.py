#!/usr/bin/env python
"""Query answers and the receiver's memory: big answers, read by several clients at once, some slowly.

    python bench/query_memory.py [--rows N] [--clients C] [--format Native|TabSeparated|JSON] [--slow]

Starts a receiver (its defaults, a free port), then C clients each ask for one answer of N rows (about
100 bytes a row) at the same time, over and over for a few rounds; with --slow each reads 64 KiB at a time
with pauses, as a far or busy client does. Prints the receiver's RSS before, its peak (VmHWM) after, the
answers' size, and the refusals (a format held whole over query.max_buffered_bytes is refused, code 241).
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path

import yaml

from otel_llmcost.keys import QUERY, KeyStore


def rss_mb(pid: int, field: str) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(rf"{field}:\s+(\d+)", status).group(1)) / 1024


def read_answer(port: int, secret: str, sql: str, output_format: str, slow: bool) -> tuple[int, int]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    auth = "Basic " + base64.b64encode(f"default:{secret}".encode()).decode()
    connection.request("POST", "/?" + urllib.parse.urlencode({"default_format": output_format}), body=sql.encode(),
                       headers={"Authorization": auth})
    response = connection.getresponse()
    size = 0
    while chunk := response.read(65536):
        size += len(chunk)
        if slow:
            time.sleep(0.002)
    connection.close()
    return response.status, size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="at most query.max_result_rows (1M)")
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--format", default="Native")
    parser.add_argument("--slow", action="store_true")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="llmcost-qmem-"))
    (tmp / "config.yaml").write_text(yaml.safe_dump({"log_level": "WARNING"}))
    secrets = [KeyStore(tmp / "data" / "keys.json").create(None, (QUERY,))[1] for _ in range(args.clients)]
    receiver = subprocess.Popen(
        [sys.executable, "-m", "otel_llmcost", "serve", "--config", str(tmp / "config.yaml"), "--data-dir",
         str(tmp / "data"), "--host", "127.0.0.1", "--grpc-port", "0", "--http-port", "0", "--query-port", "0"],
        stdout=subprocess.PIPE, text=True)
    port = json.loads(receiver.stdout.readline())["query_port"]
    sql = f"SELECT number, toString(number) AS id, repeat('x', 80) AS padding FROM numbers({args.rows})"
    idle = rss_mb(receiver.pid, "VmRSS")
    outcomes: list[tuple[int, int]] = []
    started = time.monotonic()
    for _ in range(args.rounds):
        threads = [threading.Thread(target=lambda s=s: outcomes.append(read_answer(port, s, sql, args.format,
                                                                                   args.slow)))
                   for s in secrets]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    took = time.monotonic() - started
    peak = rss_mb(receiver.pid, "VmHWM")
    receiver.send_signal(signal.SIGTERM)
    receiver.wait(timeout=60)
    sizes = sorted({size for status, size in outcomes if status == 200})
    print(f"{args.clients} clients x {args.rounds} rounds, {args.rows:,} rows each, {args.format}"
          f"{' (slow readers)' if args.slow else ''}: {took:.1f} s")
    print(f"  answers: {sum(status == 200 for status, _ in outcomes)} ok of {len(outcomes)}, "
          f"{(sizes[-1] if sizes else 0) / 2**20:.0f} MiB each; statuses {sorted({s for s, _ in outcomes})}")
    print(f"  receiver RSS: {idle:.0f} MiB idle, peak {peak:.0f} MiB")


if __name__ == "__main__":
    main()
