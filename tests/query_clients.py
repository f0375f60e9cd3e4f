"""Real ClickHouse clients for the query listener's tests: @clickhouse/client (Node) from tests/node."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import urllib.error
import urllib.parse
import urllib.request

import pytest

NODE_DIR = os.path.join(os.path.dirname(__file__), "node")


def node_runner():
    """@clickhouse/client, installed once from tests/node/package-lock.json (npm ci)."""
    if shutil.which("npm") is None or shutil.which("node") is None:
        pytest.skip("npm/node are not installed: the @clickhouse/client test needs them")
    if not os.path.isdir(os.path.join(NODE_DIR, "node_modules", "@clickhouse", "client")):
        installed = subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=NODE_DIR, capture_output=True,
                                   text=True, timeout=300)
        assert installed.returncode == 0, installed.stderr

    def run(port: int, password: str, *queries: str, settings: dict | None = None) -> list[dict]:
        done = subprocess.run(["node", "client.mjs", f"http://127.0.0.1:{port}", password, "llmcost",
                               json.dumps(settings or {}), *queries],
                              cwd=NODE_DIR, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        return [json.loads(line) for line in done.stdout.splitlines()]

    return run


def start_listener(chdb_path: str, keys):
    """The query listener in this process, over a store another handle here writes (as in `serve`)."""
    from otel_llmcost.query.access import Gate
    from otel_llmcost.query.clientsettings import Limits
    from otel_llmcost.query.executor import QueryEngine
    from otel_llmcost.query.interface import QueryListener

    engine = QueryEngine(chdb_path, "llmcost", Limits(10, 100_000, 10**8, 10**9), 2, 10)
    listener = QueryListener(engine, Gate(keys, "local"), "127.0.0.1", 0, engine.server_info())
    listener.start()
    return listener


def api_get(port: int, path: str, secret: str, **params) -> tuple[int, dict]:
    """A named endpoint of the listener, as a client with an API key calls it: (HTTP status, JSON answer)."""
    url = f"http://127.0.0.1:{port}{path}?" + urllib.parse.urlencode(params)
    auth = "Basic " + base64.b64encode(f"default:{secret}".encode()).decode()
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers={"Authorization": auth})) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())
