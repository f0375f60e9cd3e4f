"""Shared fixtures: a real receiver process on free ports with its own data directory."""

from __future__ import annotations

import http.client
import json
import os
import signal
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import yaml

from otel_llmcost.store.chdb_store import ChdbStore
from otel_llmcost.store.reader import ReadSession

# Short waits keep the suite fast; the behaviour under test does not depend on their length.
FAST_CONFIG = {
    "spool_fsync": True,
    "log_level": "INFO",
    "store": {"flush_interval_seconds": 0.2},
    "attribution": {"trace_wait_seconds": 1.0, "max_trace_wait_seconds": 10.0, "root_settle_seconds": 0.5},
}


def run_cli(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [sys.executable, "-m", "otel_llmcost", *args], capture_output=True, text=True, timeout=120
    )
    if check and result.returncode != 0:
        raise AssertionError(f"otel-llmcost {args[0]} failed ({result.returncode}): {result.stderr}")
    return result


class Receiver:
    """`otel-llmcost serve` as a subprocess; `ports` come from its ready line."""

    def __init__(self, data_dir: Path, config: dict, host: str | None = "127.0.0.1",
                 extra_args: tuple[str, ...] = ()):
        self.data_dir = data_dir
        self.host = host  # None: the settings decide where the OTLP listeners bind
        self.extra_args = extra_args
        self.config_file = data_dir.parent / f"{data_dir.name}-config.yaml"
        self.config_file.write_text(yaml.safe_dump(config))
        self.process: subprocess.Popen | None = None
        self.grpc_port = self.http_port = self.query_port = 0

    def start(self, wait_store: bool = True) -> Receiver:
        """Started once its ready line is out (it acknowledges exports) and, with `wait_store`, once its
        store is open as well (GET /storez): tests written for a store opened before the ready line."""
        self.process = subprocess.Popen(
            [sys.executable, "-m", "otel_llmcost", "serve", "--config", str(self.config_file),
             "--data-dir", str(self.data_dir), *(["--host", self.host] if self.host else []), "--grpc-port", "0",
             "--http-port", "0", "--query-port", "0", *self.extra_args],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        line = self.process.stdout.readline()
        if not line:
            raise AssertionError(f"receiver did not start: {self.process.stderr.read()}")
        self.ready = ready = json.loads(line)
        self.grpc_port, self.http_port, self.query_port = ready["grpc_port"], ready["http_port"], ready["query_port"]
        if wait_store:
            self.wait_store_open()
        return self

    def wait_store_open(self, timeout: float = 120.0) -> None:
        """Until GET /storez answers 200 (or the receiver stops: a store that cannot open stops it)."""
        scheme = "https" if self.ready["tls"] else "http"
        context = ssl._create_unverified_context() if self.ready["tls"] else None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.process.poll() is None:
            try:
                with urllib.request.urlopen(f"{scheme}://127.0.0.1:{self.http_port}/storez", timeout=10,
                                            context=context) as response:
                    if response.status == 200:
                        return
            except urllib.error.HTTPError:  # 503 while it opens
                pass
            except (OSError, http.client.HTTPException):
                if self.ready["tls"]:
                    return  # client certificates required: the store's state cannot be asked for here
            time.sleep(0.05)

    def stop(self) -> str:
        """Graceful stop (SIGTERM); asserts exit code 0 and returns the log."""
        self.process.send_signal(signal.SIGTERM)
        _, log = self.process.communicate(timeout=60)
        assert self.process.returncode == 0, log
        return log

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.communicate(timeout=30)

    def sql(self, query: str) -> list[dict]:
        out = run_cli("sql", "--data-dir", str(self.data_dir), query).stdout
        return [json.loads(line) for line in out.splitlines()]

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}/v1/traces"


@pytest.fixture
def receiver_factory(tmp_path):
    started: list[Receiver] = []

    def make(config: dict | None = None, data_dir: Path | None = None) -> Receiver:
        merged = {**FAST_CONFIG, **(config or {})}
        receiver = Receiver(data_dir or tmp_path / f"data{len(started)}", merged).start()
        started.append(receiver)
        return receiver

    yield make
    for receiver in started:
        if receiver.process and receiver.process.poll() is None:
            receiver.kill()


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    """A read session on an empty chDB store of the module's own (parsing and engine checks)."""
    opened = ReadSession(str(tmp_path_factory.mktemp("session") / "chdb"), "llmcost", every_tenant=True)
    yield opened
    opened.close()


#: read-only engines on module stores, shared by the tests that read them in this process (read_only_store)
_READ_ONLY: dict[str, ChdbStore] = {}


def read_only_store(path: Path) -> ChdbStore:
    """A read-only store on `path`, kept open for the next test that asks for `store`: every chDB engine started
    in a process leaves threads behind, each holding descriptors (/proc/self/task/<tid>/stat, schedstat, io),
    so the tests that read a module's store share one engine. A test that does not ask for `store` (a command,
    a listener, a writer) has the store to itself: the engine is closed before it, and after the module."""
    if str(path) not in _READ_ONLY:
        _READ_ONLY[str(path)] = ChdbStore(str(path), "llmcost", read_only=True)
    return _READ_ONLY[str(path)]


def _close_read_only() -> None:
    while _READ_ONLY:
        _READ_ONLY.popitem()[1].close()


@pytest.fixture(autouse=True)
def _read_only_closed_unless_read(request):
    if "store" not in request.fixturenames:
        _close_read_only()


@pytest.fixture(autouse=True, scope="module")
def _read_only_closed_after_the_module():
    yield
    _close_read_only()


@pytest.fixture
def store(tmp_path):
    """A migrated chDB store in the test's own directory (test modules may override it with a shared one)."""
    opened = ChdbStore(str(tmp_path / "chdb"), "llmcost")
    opened.ensure_schema()
    yield opened
    opened.close()


@pytest.fixture(autouse=True)
def _utc(monkeypatch):
    monkeypatch.setenv("TZ", "UTC")
    os.environ.setdefault("OTEL_SDK_DISABLED", "false")
