"""The store owner's INSERTs joined across ingest workers: one per table per flush interval, not one per worker.

Each INSERT into the embedded store has a fixed cost beside its rows: a part written per partition in the
table and in every materialized view's target (llm_usage feeds eight rollups), the views' queries run, a
batch file written and read. With several workers each flushing every interval, those costs were paid once
per worker. Here the first block of an interval for a table waits until every worker has sent its own (or
until `linger` seconds passed: a worker with nothing to store sends nothing), and the blocks are loaded by
one INSERT: a Native body is a sequence of blocks, so joining them is a concatenation. The workers'
flushers answered together then flush together, so after the first interval they arrive close together.

The joined INSERT carries a token of its blocks' tokens, and the spend of all its blocks' rows, recorded by the
owner's budget ledger once it is stored (alerts/ledger.py). When it fails, each block is inserted alone, with
its own token, as it would have been without joining: each worker gets its own block's outcome (a row at
fault is then isolated by that worker's writer, a retryable failure retried by it).
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

# (table, column names, Native body, dedup token, what each block inserted carries beside: its rows' spend)
Insert = Callable[[str, Sequence[str], bytes, str, list[Any]], None]


@dataclass(slots=True)
class _Block:
    payload: bytes
    token: str
    spend: Any  # alerts/ledger.py Spend of its usage rows, recorded once they are stored (None: no rows)
    done: threading.Event = field(default_factory=threading.Event)
    error: Exception | None = None


@dataclass(slots=True)
class _Round:
    """The blocks for one table (and column list) waiting to be inserted together."""

    blocks: list[_Block] = field(default_factory=list)
    full: threading.Event = field(default_factory=threading.Event)


class InsertJoiner:
    def __init__(self, insert: Insert, workers: int, linger: float):
        self._insert = insert  # one INSERT; the caller serialises store calls
        self._workers = workers
        self._linger = linger
        self._lock = threading.Lock()
        self._rounds: dict[tuple[str, tuple[str, ...]], _Round] = {}
        self.inserts = 0  # INSERTs run (joined or alone), for bench and tests
        self.blocks = 0  # blocks received

    def insert(self, table: str, names: Sequence[str], payload: bytes, token: str, spend: Any = None) -> None:
        """Insert one worker's block, joined with the other workers' blocks of this interval; returns once it is
        stored, raises its StoreError."""
        key = (table, tuple(names))
        block = _Block(payload, token, spend)
        with self._lock:
            self.blocks += 1
            current = self._rounds.get(key)
            leader = current is None
            if current is None:
                current = self._rounds[key] = _Round()
            current.blocks.append(block)
            if len(current.blocks) >= self._workers:
                current.full.set()
        if not leader:
            block.done.wait()
        else:
            current.full.wait(self._linger)
            with self._lock:  # blocks arriving from now on start the next round
                del self._rounds[key]
            self._run(table, names, current.blocks)
        if block.error is not None:
            raise block.error

    def _run(self, table: str, names: Sequence[str], blocks: list[_Block]) -> None:
        try:
            if len(blocks) > 1:
                try:
                    self.inserts += 1
                    self._insert(table, names, b"".join(b.payload for b in blocks), joined_token(blocks),
                                 [b.spend for b in blocks])
                    return
                except Exception:  # each block alone: its worker gets its own outcome
                    pass
            for block in blocks:
                try:
                    self.inserts += 1
                    self._insert(table, names, block.payload, block.token, [block.spend])
                except Exception as exc:
                    block.error = exc
        finally:
            for block in blocks:
                block.done.set()


def joined_token(blocks: list[_Block]) -> str:
    """The dedup token of blocks inserted together: the same blocks give the same token (an empty one, none)."""
    if not all(block.token for block in blocks):
        return ""
    return hashlib.sha256("\n".join(sorted(block.token for block in blocks)).encode()).hexdigest()
