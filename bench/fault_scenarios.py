"""The faults of bench/faults.py, one function per scenario, and what each scenario records."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

from fault_receiver import STORED_TABLES, ReceiverProcess  # bench/ is on sys.path when faults.py is run as a script
from fault_traffic import Ledger, Load, export, split_roots


class Scenario:
    """One scenario's receiver, ledger and notes; `settle` recovers and counts."""

    def __init__(self, root: Path, name: str):
        self.name, self.dir = name, root / name
        self.dir.mkdir(parents=True)
        self.data_dir = self.dir / "data"
        self.data_dir.mkdir()
        self.ledger, self.notes, self.receiver = Ledger(), [], None
        self.special: dict[str, set] = {}  # label -> calls reported apart in the notes (poison, huge trace)
        self.unmount: Path | None = None  # a tmpfs the scenario mounted
        self.counted = True  # False when no receiver ever ran

    def start(self, config: dict | None = None, extra_args: tuple[str, ...] = ()) -> ReceiverProcess:
        self.receiver = ReceiverProcess(self.data_dir, config, extra_args)
        if not self.receiver.start():
            raise RuntimeError(self.receiver.events[-1])
        return self.receiver

    def load(self, **shape) -> Load:
        return Load(self.ledger, self.receiver.url, **shape)

    def settle(self, stop_timeout: float = 30.0) -> list[str]:
        receiver, ledger = self.receiver, self.ledger
        if receiver.alive():
            self.notes.append(f"stop {receiver.stop(stop_timeout):.1f}s")
        if receiver.spool_segments():  # recovery: a start replays the spool, its SIGTERM writes it
            self.notes.append(f"recovery replays {receiver.spool_segments()} spool segments")
            if receiver.start():
                receiver.stop(stop_timeout)
            if receiver.spool_segments():
                self.notes.append(f"{receiver.spool_segments()} segments still spooled")
        counts, unattributed = receiver.stored()
        if unattributed or self.name == "sigterm":  # sigterm: the calls that waited for their roots over it
            self.notes.append(f"{len(unattributed)} calls stored without their root's tenant")
        usage, dead = (counts[table].keys() & ledger.sent for table in STORED_TABLES)
        lost = ledger.acked - usage - dead
        # Rows beyond one per call, across both tables: a call priced and also dead-lettered is a duplicate.
        rows: dict = {}
        for per_table in counts.values():
            for key, n in per_table.items():
                rows[key] = rows.get(key, 0) + n
        duplicated = sum(n - 1 for key, n in rows.items() if key in ledger.sent and n > 1)
        for label, keys in self.special.items():
            self.notes.append(f"{label}: {len(keys & ledger.acked)}/{len(keys)} acked, {len(keys & usage)} stored, "
                              f"{len(keys & dead)} dead-lettered")
        refusals = {str(k): v for k, v in sorted(ledger.answers.items(), key=str) if k != 200}
        if refusals:
            self.notes.append("non-200 answers " + " ".join(f"{k}x{v}" for k, v in refusals.items()))
        self.notes.extend(receiver.events)
        return [str(len(ledger.sent)), str(len(ledger.acked)), str(len(usage)), str(len(dead)), str(duplicated),
                str(len(lost)), "; ".join(self.notes)]


def kill_during_insert(scenario: Scenario, limit: float) -> None:
    """kill -9 the moment the flusher writes an INSERT's batch file (chDB reads it with file())."""
    chdb, began = scenario.data_dir / "chdb", time.monotonic()
    while time.monotonic() - began < limit:
        if any(name.startswith("batch-") for name in os.listdir(chdb)):
            scenario.receiver.kill()
            scenario.notes.append(f"killed during an INSERT after {time.monotonic() - began:.1f}s")
            return
        time.sleep(0.001)
    scenario.receiver.kill()
    scenario.notes.append(f"no INSERT seen, killed at {limit:.0f}s")


def restart_under_load(s: Scenario, fault, then=lambda: None) -> None:
    """Load, `fault()` (which stops the receiver somehow), restart, `then()`, 3 s more load."""
    s.start()
    load = s.load()
    fault()
    s.receiver.start()
    then()
    time.sleep(3)
    load.finish()


def kill9_early(s: Scenario) -> None:
    def fault():
        time.sleep(0.3)  # acknowledged exports, none flushed yet
        s.receiver.kill()
    restart_under_load(s, fault)


def kill9_midflush(s: Scenario) -> None:
    def fault():
        time.sleep(1)
        kill_during_insert(s, 15)
    restart_under_load(s, fault)


def kill9_twice(s: Scenario) -> None:
    def fault():
        time.sleep(2)
        s.receiver.kill()
        s.receiver.start()
        kill_during_insert(s, 3)  # the second kill hits the replay's first INSERT, or 3 s after the restart
    restart_under_load(s, fault)


def kill_workers(s: Scenario, every: bool) -> int:
    """kill -9 one ingest worker (or every one); returns how many (0: the receiver runs one process)."""
    pids = s.receiver.worker_pids()
    for pid in pids if every else pids[:1]:
        os.kill(pid, signal.SIGKILL)
    return len(pids) if every else min(len(pids), 1)


def kill9_worker(s: Scenario) -> None:
    """Under load, kill -9 an ingest worker; once the receiver has started it again, kill -9 another."""
    s.start()
    load = s.load()
    time.sleep(1.5)
    killed = kill_workers(s, every=False)
    time.sleep(4)  # started again, its spool replayed
    pids = s.receiver.worker_pids()
    if len(pids) > 1:
        os.kill(pids[-1], signal.SIGKILL)
        killed += 1
    time.sleep(3)
    load.finish()
    s.notes.append(f"{killed} workers killed, {s.receiver.log_text().count('starting it again')} restarts")


def kill9_workers_during_insert(s: Scenario) -> None:
    """kill -9 every ingest worker the moment the store's owner writes an INSERT's batch file for one of them:
    that batch is stored while its worker's spool still holds it (replayed, then found stored)."""
    s.start()
    load = s.load()
    chdb, began, killed = s.data_dir / "chdb", time.monotonic(), 0
    while time.monotonic() - began < 15 and not killed:
        if any(name.startswith("batch-") for name in os.listdir(chdb)):
            killed = kill_workers(s, every=True)
        time.sleep(0.001)
    s.notes.append(f"{killed} workers killed {time.monotonic() - began:.1f}s in" if killed else "no INSERT seen")
    time.sleep(4)
    load.finish()


def sigterm(s: Scenario) -> None:
    """SIGTERM under load, while 50 calls wait for their root spans, which are sent after the restart."""
    body, keys = export()
    calls, roots = split_roots(body)

    def fault():
        time.sleep(2)
        s.ledger.deliver(s.receiver.url, calls, keys)
        s.notes.append(f"SIGTERM under load took {s.receiver.stop():.1f}s")
    restart_under_load(s, fault, then=lambda: s.ledger.deliver(s.receiver.url, roots, []))


def mount_tmpfs(s: Scenario, path: Path, size: str) -> None:
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], check=True)
    s.unmount = path


def fill(directory: Path) -> Path:
    """Write a file until the file system is full."""
    filler = directory / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
    for chunk in (b"\0" * (1 << 20), b"\0" * 4096, b"\0"):
        try:
            while os.write(fd, chunk):
                pass
        except OSError:  # ENOSPC: on to a smaller chunk
            pass
    os.close(fd)
    return filler


def store_full(under: str):
    """A part of the chDB directory alone on a tmpfs, filled for 6 s while the spool still works."""
    def scenario(s: Scenario) -> None:
        full = s.data_dir / under
        full.mkdir(parents=True)
        mount_tmpfs(s, full, "64m")  # once freed, room enough for chDB to reserve space for a batch
        s.start()
        load = s.load()
        time.sleep(1)
        filler = fill(full)
        time.sleep(6)
        filler.unlink()
        time.sleep(3)
        load.finish(drain=40)
        log = s.receiver.log_text()
        s.notes.append(f"while full: {log.count('flush failed')} flush tracebacks, {log.count('insert of')} insert "
                       f"retries logged")
    return scenario


# chdb/: the flusher's batch file (written there for chDB's file() to read) fails before chDB is asked (and
# were it written, chDB would refuse the INSERT: 243 NOT_ENOUGH_SPACE, retried).
# chdb/store/ (the tables' parts) on a file system of its own: chDB reserves space on chdb/'s file system, which
# has room, then its part writes fail with ENOSPC unreported: the INSERT succeeds, the part's files are empty
# (reading it: 246 CORRUPTED_DATA), the next open detaches it as broken-on-start_*. Plain chDB 26.9 does the
# same; the receiver has released the spool by then, so these calls are lost.
STORE_FULL = {"store-full-chdb": "chdb", "store-full-chdb-parts": "chdb/store"}


def store_server_unreachable(s: Scenario) -> None:
    """--clickhouse at a port that accepts connections and closes them at once. The receiver stops without its
    server, once it has tried to open it after its ready line (one line, exit 2; what it acknowledged meanwhile
    stays in its spool); losing the server after start cannot be shown without a server to
    start against (none installs here): there, every insert and lookup fails as a retryable StoreError
    (store/server_store.py _call), the batch stays unsent and spooled and is retried with backoff."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def drop_all() -> None:
        while True:
            try:
                listener.accept()[0].close()
            except OSError:
                return

    threading.Thread(target=drop_all, daemon=True).start()
    try:
        s.start(extra_args=("--clickhouse", f"clickhouse://127.0.0.1:{port}/llmcost"))
    except RuntimeError as exc:
        s.notes.append(str(exc))
        s.counted = False
        return
    finally:
        listener.close()
    load = s.load()
    time.sleep(3)
    load.finish()


def disk_full(s: Scenario) -> None:
    """The whole data directory on a 32 MB tmpfs, filled under load; kill -9 while full; then space freed."""
    mount_tmpfs(s, s.data_dir, "32m")
    s.start()
    load = s.load()
    time.sleep(1)
    filler = fill(s.data_dir)
    time.sleep(4)
    s.receiver.kill()
    filler.unlink()
    s.receiver.start()
    time.sleep(2)
    load.finish()


def overload(s: Scenario) -> None:
    """8 exporters of 600-span exports against a 1.5 MB buffer (~2,000 of these spans, charged by their share
    of the spool line) flushed once a second."""
    s.start({"store": {"flush_interval_seconds": 1.0}, "attribution": {
        "trace_wait_seconds": 1.0, "max_trace_wait_seconds": 10.0, "max_buffered_bytes": 1_500_000}})
    load = s.load(clients=8, traces=100)
    time.sleep(8)
    load.finish(drain=60)


def resend_after_restart(s: Scenario) -> None:
    s.start()
    exports = [export() for _ in range(20)]
    for body, keys in exports:
        s.ledger.deliver(s.receiver.url, body, keys)
    s.receiver.stop()
    s.receiver.start()
    for body, keys in exports:  # an exporter retrying exports whose answers it lost
        s.ledger.deliver(s.receiver.url, body, keys)


# One value per scenario, so each shows what it does alone (block the store, drop its trace, or neither).
POISON = {"poison-count-1e20": {"gen_ai.usage.input_tokens": "9" * 20}, "poison-attempt-70000": {"llm.attempt": 70000},
          "poison-count-1e300": {"gen_ai.usage.input_tokens": 1e300},
          "poison-attempt-superscript": {"llm.attempt": "²"}}  # str.isdigit() yet not int(): found by the fuzz test


def poison(attributes: dict):
    """Good traffic, then one call carrying `attributes` (with its root span, in a trace of its own), then more."""
    def scenario(s: Scenario) -> None:
        s.start()
        load = s.load()
        time.sleep(1)
        body, keys = export(traces=1, calls=1, **attributes)
        s.special[f"poison {attributes}"] = set(keys)
        s.ledger.deliver(s.receiver.url, body, keys)
        time.sleep(5)
        load.finish()
    return scenario


def far_future(s: Scenario) -> None:
    """Good traffic, then calls stamped past what otel_traces' DateTime64(9) holds (2262-04-11) and at the
    largest OTLP time (2554), then more: once they stopped every insert, for ever."""
    s.start()
    load = s.load()
    time.sleep(1)
    for label, start in (("2262-04-12", 2 ** 63 + 86_400 * 10 ** 9), ("2554", 2 ** 64 - 2_000_000)):
        body, keys = export(traces=1, calls=1, start_ns=start)
        s.special[f"call at {label}"] = set(keys)
        s.ledger.deliver(s.receiver.url, body, keys)
    time.sleep(5)
    load.finish()
    s.notes.append(f"stored before the restart: {stored_now(s)}")


def small_disk_wedge(s: Scenario) -> None:
    """The tables' parts alone on a 64 MB tmpfs, filled for 10 s under load, with calls held 8 s for their
    roots (a backlog released in one flush); then freed. Counts what is stored before any restart, and
    whether /readyz said so while full."""
    parts = s.data_dir / "chdb" / "store"
    parts.mkdir(parents=True)
    mount_tmpfs(s, parts, "64m")
    s.start({"attribution": {"trace_wait_seconds": 8.0, "max_trace_wait_seconds": 8.0}})
    load = s.load(traces=50)
    time.sleep(1)
    filler = fill(parts)
    readiness = []
    for _ in range(10):
        time.sleep(1)
        readiness.append(ready_status(s.receiver))
    filler.unlink()
    load.finish(drain=60)
    time.sleep(10)
    s.notes.append(f"/readyz while full: {sorted(set(readiness))}; after: {ready_status(s.receiver)}")
    s.notes.append(f"stored before any restart: {stored_now(s)}")


def ready_status(receiver: ReceiverProcess) -> int:
    try:
        with urllib.request.urlopen(receiver.url.replace("/v1/traces", "/readyz"), timeout=10) as answer:
            return answer.status
    except urllib.error.HTTPError as error:
        return error.code


def stored_now(s: Scenario) -> str:
    """Acknowledged calls in llm_usage or rejected_calls while the receiver runs (read through its listener)."""
    found = set()
    for table in STORED_TABLES:
        out = subprocess.run([sys.executable, "-m", "otel_llmcost", "sql", "--data-dir", str(s.data_dir),
                              f"SELECT trace_id, span_id FROM llmcost.{table}"],
                             capture_output=True, text=True, check=False)
        found |= {(row["trace_id"], row["span_id"]) for row in map(json.loads, out.stdout.splitlines())}
    return f"{len(found & s.ledger.acked)}/{len(s.ledger.acked)} acked"


def huge_trace(s: Scenario) -> None:
    """One export of one trace of 100k spans (a root and 99,999 calls), then normal traffic."""
    s.start()
    body, keys = export(traces=1, calls=99_999)
    s.special[f"huge trace ({len(body) / 1e6:.0f} MB)"] = set(keys)
    began = time.monotonic()
    s.ledger.deliver(s.receiver.url, body, keys, timeout=120)
    s.notes.append(f"huge export answered in {time.monotonic() - began:.1f}s")
    load = s.load(clients=2)
    time.sleep(10)
    load.finish()


def query_memory(s: Scenario) -> None:
    """OTLP traffic while query clients read big answers at once (four 1M-row Native, one JSON over its
    whole-answer cap), abandon two heavy queries, then the stop (SIGTERM) lands with heavy queries running."""
    s.start()
    load = s.load(clients=2)
    base = f"http://127.0.0.1:{s.receiver.query_port}/?"
    big = "SELECT number, toString(number) AS id, repeat('x', 80) AS padding FROM numbers(1000000)"
    heavy = "SELECT count() FROM numbers(1e12) WHERE NOT ignore(sipHash64(number))"
    statuses: list[int] = []

    def ask(sql: str, output_format: str) -> None:
        try:
            with urllib.request.urlopen(urllib.request.Request(base + f"default_format={output_format}",
                                                               data=sql.encode()), timeout=300) as answer:
                while answer.read(1 << 16):
                    pass
                statuses.append(answer.status)
        except urllib.error.HTTPError as error:
            statuses.append(error.code)

    readers = [threading.Thread(target=ask, args=(big, "Native")) for _ in range(4)]
    readers.append(threading.Thread(target=ask, args=(big, "JSON")))
    for reader in readers:
        reader.start()
    for reader in readers:
        reader.join()
    for _ in range(2):  # clients that leave: their queries are killed, their slots come back
        connection = socket.create_connection(("127.0.0.1", s.receiver.query_port))
        connection.sendall(f"POST / HTTP/1.1\r\nHost: localhost\r\nContent-Length: {len(heavy)}\r\n\r\n"
                           f"{heavy}".encode())
        time.sleep(1)
        connection.close()
    ask("SELECT 1", "TabSeparated")
    for _ in range(2):  # left running for the stop
        threading.Thread(target=ask, args=(heavy, "TabSeparated"), daemon=True).start()
    time.sleep(2)
    load.finish()
    s.notes.append(f"answers {sorted(statuses)}; peak RSS {s.receiver.peak_rss_mb():.0f} MiB")


SCENARIOS = {f.__name__.replace("_", "-"): f for f in [
    kill9_early, kill9_midflush, kill9_twice, kill9_worker, kill9_workers_during_insert, sigterm]} | {
    name: store_full(under) for name, under in
    STORE_FULL.items()} | {f.__name__.replace("_", "-"): f for f in [
    store_server_unreachable, disk_full, overload, resend_after_restart]} | {
    name: poison(attributes) for name, attributes in POISON.items()} | {"huge-trace": huge_trace} | {
    f.__name__.replace("_", "-"): f for f in [far_future, small_disk_wedge, query_memory]}
