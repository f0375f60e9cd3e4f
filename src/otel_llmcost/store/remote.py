"""Reading the embedded store of a running receiver, through its ClickHouse HTTP interface.

chDB lets one process own a data directory, so while `otel-llmcost serve` runs, `sql` and `stats` send
their queries to its query listener (the same guarded, read-only path Grafana uses) instead of opening
the directory. The receiver announces the port and a local secret in <data_dir>/receiver.json (mode 0600).
"""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from otel_llmcost.errors import StoreError

RECEIVER_FILE = "receiver.json"  # written into the data directory by a running receiver
_QUERY_TIMEOUT_SECONDS = 300
_PROBE_TIMEOUT_SECONDS = 60  # a receiver whose store still opens (migrations) answers once it is open
# Money stays exact: Decimals arrive as strings, as the embedded store's own query() returns them.
_SETTINGS = {"default_format": "JSONEachRow", "output_format_json_quote_decimals": "1",
             "output_format_json_quote_64bit_integers": "0"}


class RemoteStore:
    def __init__(self, query_port: int, database: str, secret: str, tls_cert_file: str | None = None):
        self._url = f"{'https' if tls_cert_file else 'http'}://127.0.0.1:{query_port}/"
        self._secret = secret
        self._tls = None
        if tls_cert_file:  # our own receiver's certificate, pinned: its names need not include 127.0.0.1
            self._tls = ssl.create_default_context(cafile=tls_cert_file)
            self._tls.check_hostname = False
            self._tls.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN
        self.database = database

    @classmethod
    def of_running_receiver(cls, data_dir: str, database: str) -> RemoteStore | None:
        try:
            announced = json.loads((Path(data_dir) / RECEIVER_FILE).read_text(encoding="utf-8"))
            return cls(int(announced["query_port"]), database, str(announced["query_secret"]),
                       announced.get("tls_cert_file"))
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def query(self, sql: str, params: dict[str, Any] | None = None, /) -> list[dict[str, Any]]:
        return self._post(sql, params or {}, _QUERY_TIMEOUT_SECONDS)

    def _post(self, sql: str, params: dict[str, Any], timeout: float) -> list[dict[str, Any]]:
        from otel_llmcost.store.chdb_store import param_text  # not at import: `serve` reads RECEIVER_FILE only

        url_params = {"database": self.database, **_SETTINGS,
                      **{f"param_{name}": param_text(value) for name, value in params.items()}}
        request = urllib.request.Request(
            self._url + "?" + urllib.parse.urlencode(url_params), data=sql.encode("utf-8"),
            headers={"X-ClickHouse-Key": self._secret, "Content-Type": "text/plain; charset=utf-8"},
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout, context=self._tls) as response:
                return [json.loads(line) for line in response.read().decode("utf-8").splitlines() if line]
        except urllib.error.HTTPError as error:
            raise StoreError(error.read().decode("utf-8", "replace").strip() or f"HTTP {error.code}") from error
        except (urllib.error.URLError, OSError) as exc:
            raise StoreError(f"the running receiver's query listener {self._url} did not answer: {exc}") from exc

    def answers(self) -> bool:
        """Whether a receiver is really there (the file outlives a receiver that was killed)."""
        try:
            self._post("SELECT 1", {}, _PROBE_TIMEOUT_SECONDS)
        except StoreError:
            return False
        return True

    def close(self) -> None:
        pass
