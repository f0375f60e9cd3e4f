"""A query's answer, chunk by chunk, so the receiver never holds a big answer whole.

A SELECT in a format whose chunks concatenate to the whole answer (rows without a header or footer,
measured in chDB) streams: its first chunk is fetched before anything is sent (errors before any data stay
HTTP errors), later ones as the client takes them, so each such query holds about one chunk. A SELECT in
another format (JSON, Parquet, *WithNames...) is written by chDB to a file of its own (INTO OUTFILE formats
as it goes: making a 139 MiB JSON answer in memory took 900 MiB) and read back in chunks. Only metadata
answers (SHOW, DESCRIBE, EXPLAIN, EXISTS: small) are held whole. Closing an answer ends its query (between
chunks; a running one is killed by the engine), gives its slot back and deletes its file.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from dataclasses import dataclass

from otel_llmcost.query import native
from otel_llmcost.query.errors import QueryError
from otel_llmcost.store.reader import Chunks, EngineError

_SPILL_CHUNK_BYTES = 1 << 20
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


class SpilledChunks:
    """A whole answer chDB wrote to a file (INTO OUTFILE: it formats as it goes, in bounded memory), read
    back in chunks and deleted when closed."""

    def __init__(self, path: str, stats: Stats):
        self._file, self._path, self.stats = open(path, "rb"), path, stats  # noqa: SIM115 (closed by close())

    def fetch(self) -> tuple[bytes, Stats] | None:
        data = self._file.read(_SPILL_CHUNK_BYTES)
        return (data, self.stats) if data else None

    def close(self) -> None:
        self._file.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self._path)


class Answer:
    """`first`, then `next_chunk()` until None; `close()` always (from the thread that fetches)."""

    def __init__(self, output_format: str, database: str, first: bytes, stats: Stats, on_close: Callable[[], None],
                 chunks: Chunks | SpilledChunks | None = None, revision: int = 0,
                 errors: Callable[[EngineError], QueryError] | None = None, result_types: list[str] | None = None,
                 binary_types: bool = False):
        self.output_format, self.database, self.stats = output_format, database, stats
        self._chunks, self._revision, self._errors, self._on_close = chunks, revision, errors, on_close
        self._result_types = result_types  # the columns' types with their zones (native.at_revision)
        self._binary_types = binary_types  # Native written with binary type encoding (native.at_revision)
        self.first = self._relaid(first)
        self._ended = chunks is None
        self._closed = False

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
        try:
            return self._relaid(fetched[0])
        except native.TextTypesNeeded:  # the first chunk's types passed (the engine asks again if not): none left
            self._ended = True
            raise QueryError(native.NOT_IMPLEMENTED, "a column type of this answer cannot be sent in Native format "
                                                     "here; convert it in the query") from None

    def whole(self) -> QueryResult:
        parts = [self.first]
        while (chunk := self.next_chunk()) is not None:
            parts.append(chunk)
        return QueryResult(b"".join(parts), self.output_format, *self.stats, self.database)

    def _relaid(self, body: bytes) -> bytes:
        if self.output_format == "Native" and self._revision > 0:
            types = self._result_types
            return native.at_revision(body, self._revision, None if types is None else lambda: types,
                                      self._binary_types)
        return body

    def close(self) -> None:
        """Stop the query between chunks if it still runs, give back what it holds; idempotent."""
        if self._closed:
            return
        self._closed = True
        try:
            if self._chunks is not None and (not self._ended or isinstance(self._chunks, SpilledChunks)):
                self._chunks.close()
        finally:
            self._on_close()
