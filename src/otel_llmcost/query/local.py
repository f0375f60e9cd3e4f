"""`otel-llmcost sql/stats` with no receiver running: the same guarded path as the listener, in-process.

chDB's own read-only mode still reads files and URLs, so the CLI never hands it a query unguarded.
"""

from __future__ import annotations

import json
import os
from typing import Any

from otel_llmcost.config import Settings
from otel_llmcost.errors import StoreError
from otel_llmcost.query.errors import QueryError
from otel_llmcost.query.executor import QueryRequest, engine_for
from otel_llmcost.query.scope import Principal
from otel_llmcost.store.chdb_store import param_text
from otel_llmcost.store.quiet import engine_errors_held_back
from otel_llmcost.store.reader import EngineError, ReadSession

# Decimals as strings: money stays exact, as the stores' query() promises.
JSON_SETTINGS = {"output_format_json_quote_decimals": "1", "output_format_json_quote_64bit_integers": "0"}


class LocalReader:
    def __init__(self, settings: Settings):
        if not os.path.isdir(settings.chdb_path):
            raise StoreError(f"no embedded store at {settings.chdb_path} yet: run `otel-llmcost serve` first")
        try:  # opened once here, in one clean line if another process holds it
            with engine_errors_held_back():
                ReadSession(settings.chdb_path, settings.store.database, every_tenant=True).close()
        except EngineError as exc:
            raise StoreError(f"cannot open the embedded store at {settings.chdb_path}: another process holds it (a "
                             "receiver without its query listener? The commands read through the listener of a "
                             "running receiver)") from exc
        self._engine = engine_for(settings, max_concurrent=1)
        self.database = settings.store.database

    def query(self, sql: str, params: dict[str, Any] | None = None, /) -> list[dict[str, Any]]:
        request = QueryRequest(sql, Principal(None, "cli"), "JSONEachRow", self.database,
                               {name: param_text(value) for name, value in (params or {}).items()}, JSON_SETTINGS)
        try:
            body = self._engine.execute(request).body
        except QueryError as exc:
            raise StoreError(exc.clickhouse_text().strip()) from exc
        return [json.loads(line) for line in body.decode("utf-8").splitlines() if line]

    def close(self) -> None:
        pass
