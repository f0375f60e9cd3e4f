"""Reading the embedded store of a running receiver, through its loopback-only query endpoint.

chDB lets one process own a data directory, so while `otel-llmcost serve` runs, `sql` and `stats` send
their read-only queries to it (POST /api/sql on its OTLP/HTTP port) instead of opening the directory.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from otel_llmcost.errors import StoreError

RECEIVER_FILE = "receiver.json"  # written into the data directory by a running receiver
_QUERY_TIMEOUT_SECONDS = 300
_PROBE_TIMEOUT_SECONDS = 5


class RemoteStore:
    def __init__(self, http_port: int, database: str):
        self._url = f"http://127.0.0.1:{http_port}/api/sql"
        self.database = database

    @classmethod
    def of_running_receiver(cls, data_dir: str, database: str) -> RemoteStore | None:
        try:
            announced = json.loads((Path(data_dir) / RECEIVER_FILE).read_text(encoding="utf-8"))
            return cls(int(announced["http_port"]), database)
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def query(self, sql: str, params: dict[str, Any] | None = None, /) -> list[dict[str, Any]]:
        return self._post(sql, params or {}, _QUERY_TIMEOUT_SECONDS)

    def _post(self, sql: str, params: dict[str, Any], timeout: float) -> list[dict[str, Any]]:
        body = json.dumps({"sql": sql, "params": params}).encode()
        request = urllib.request.Request(self._url, data=body, headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return json.loads(response.read())["rows"]
        except urllib.error.HTTPError as error:
            try:
                message = json.loads(error.read())["error"]
            except (ValueError, KeyError):
                message = f"HTTP {error.code}"
            raise StoreError(message) from error
        except (urllib.error.URLError, OSError) as exc:
            raise StoreError(f"the running receiver's query endpoint {self._url} did not answer: {exc}") from exc

    def answers(self) -> bool:
        """Whether a receiver is really there (the file outlives a receiver that was killed)."""
        try:
            self._post("SELECT 1", {}, _PROBE_TIMEOUT_SECONDS)
        except StoreError:
            return False
        return True

    def close(self) -> None:
        pass
