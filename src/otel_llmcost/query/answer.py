"""A query's answer, chunk by chunk, so the receiver never holds a big answer whole.

A SELECT in a format whose chunks concatenate to the whole answer (rows without a header or footer,
measured in chDB) streams: its first chunk is fetched before anything is sent (errors before any data stay
HTTP errors), later ones as the client takes them, so each such query holds about one chunk. Other answers
(JSON, Parquet, *WithNames, SHOW, DESCRIBE...) are made whole by chDB, which needs several times their size
to do so: a SELECT answered whole reserves its share of `query.max_buffered_bytes` before it runs, is capped
at that share (max_result_bytes), and holds what it made until sent. Closing an
answer ends its query (between chunks; a running one is killed by the engine) and gives back its slot and
budget.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from otel_llmcost.query import native
from otel_llmcost.query.errors import QueryError
from otel_llmcost.store.reader import Chunks, EngineError

TOO_MANY_SIMULTANEOUS_QUERIES = 202
STREAMED_FORMATS = frozenset({
    "TabSeparated", "TSV", "TSVRaw", "TabSeparatedRaw", "CSV", "JSONEachRow", "JSONLines", "NDJSON",
    "JSONCompactEachRow", "JSONStringsEachRow", "JSONCompactStringsEachRow", "Native", "RowBinary", "TSKV",
    "CustomSeparated",
})
Stats = tuple[int, int, float]  # rows read, bytes read, seconds (X-ClickHouse-Summary)


@dataclass(frozen=True, slots=True)
class QueryResult:
    body: bytes
    output_format: str
    rows_read: int
    bytes_read: int
    elapsed_seconds: float
    database: str


class Budget:
    """Bytes of whole answers being made or sent, across requests: each SELECT answered whole reserves its
    share (the budget over max_concurrent_queries) before it runs and holds what it made until sent."""

    def __init__(self, limit: int, concurrent: int):
        self.limit, self.held = limit, 0
        self.share = max(1, limit // max(1, concurrent))
        self._room = threading.Condition()

    def reserve(self, size: int, wait_seconds: float, force: bool = False) -> None:
        """Take `size` bytes, waiting for room up to `wait_seconds`; `force`: what is already in memory."""
        with self._room:
            if not force and not self._room.wait_for(lambda: self.held + size <= self.limit, wait_seconds):
                raise QueryError(TOO_MANY_SIMULTANEOUS_QUERIES, f"answers being made or sent hold {self.held} "
                                 f"bytes of {self.limit} (query.max_buffered_bytes); retry shortly, or ask for "
                                 "a streamed format (Native, JSONEachRow, TabSeparated, CSV)")
            self.held += size

    def give(self, size: int) -> None:
        with self._room:
            self.held -= size
            self._room.notify_all()


class Answer:
    """`first`, then `next_chunk()` until None; `close()` always (from the thread that fetches)."""

    def __init__(self, output_format: str, database: str, first: bytes, stats: Stats, on_close: Callable[[], None],
                 chunks: Chunks | None = None, revision: int = 0,
                 errors: Callable[[EngineError], QueryError] | None = None, result_types: list[str] | None = None):
        self.output_format, self.database, self.stats = output_format, database, stats
        self._chunks, self._revision, self._errors, self._on_close = chunks, revision, errors, on_close
        self._result_types = result_types  # the columns' types with their zones (native.at_revision)
        self.first = self._relaid(first)
        self._ended = chunks is None
        self._closed = False

    @property
    def streams(self) -> bool:
        return self._chunks is not None

    def next_chunk(self) -> bytes | None:
        """The next chunk, None at the end (blocks while chDB works); QueryError if the query fails."""
        if self._ended or self._chunks is None:
            return None
        try:
            fetched = self._chunks.fetch()
        except EngineError as exc:
            self._ended = True
            raise (self._errors(exc) if self._errors else QueryError(exc.code, exc.message)) from exc
        if fetched is None:
            self._ended = True
            return None
        return self._relaid(fetched[0])

    def whole(self) -> QueryResult:
        parts = [self.first]
        while (chunk := self.next_chunk()) is not None:
            parts.append(chunk)
        return QueryResult(b"".join(parts), self.output_format, *self.stats, self.database)

    def _relaid(self, body: bytes) -> bytes:
        if self.output_format == "Native" and self._revision > 0:
            types = self._result_types
            return native.at_revision(body, self._revision, None if types is None else lambda: types)
        return body

    def close(self) -> None:
        """Stop the query between chunks if it still runs, give back what it holds; idempotent."""
        if self._closed:
            return
        self._closed = True
        try:
            if not self._ended and self._chunks is not None:
                self._chunks.close()
        finally:
            self._on_close()
