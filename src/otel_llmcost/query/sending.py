"""Sending an answer over HTTP, chunk by chunk, and ending its query when the client goes away.

chDB work runs on the listener's worker threads; the event loop checks the client's connection while it
waits, and a client that left gets its query cancelled (the engine's KILL) so its slot comes back within a
block of work, not at max_execution_time. A streamed answer is written as it is fetched (gzip'd on the fly
when asked): the first chunk decides the status, an error after it is appended to the body, as ClickHouse
does, and the connection is closed so no client takes a cut answer for a whole one.
"""

from __future__ import annotations

import asyncio
import json
import zlib
from collections.abc import Callable
from concurrent.futures import Executor
from typing import Any

from aiohttp import web

from otel_llmcost.query.answer import Answer
from otel_llmcost.query.errors import QueryError

_CLIENT_CHECK_SECONDS = 0.2


def client_gone(request: web.Request | None) -> bool:
    return request is not None and (request.transport is None or request.transport.is_closing())


async def in_worker(workers: Executor, call: Callable[[], Any], cancel: Callable[[], None],
                    request: web.Request | None) -> Any:
    """`call()` on a worker thread; when the client leaves meanwhile, `cancel()` (on another thread) until
    `call` ends (it fails soon after)."""
    loop = asyncio.get_running_loop()
    future = loop.run_in_executor(workers, call)
    while True:
        done, _ = await asyncio.wait({future}, timeout=_CLIENT_CHECK_SECONDS)
        if done:
            return future.result()
        if client_gone(request):  # again at each check: the query may have been between steps
            await loop.run_in_executor(None, cancel)  # not on `workers`: they may all be busy


def summary(answer: Answer) -> str:
    rows, read_bytes, seconds = answer.stats
    return json.dumps({"read_rows": str(rows), "read_bytes": str(read_bytes), "written_rows": "0",
                       "written_bytes": "0", "total_rows_to_read": str(rows), "elapsed_ns": str(int(seconds * 1e9))})


async def send_stream(request: web.Request, response: web.StreamResponse, answer: Answer, gzip: bool,
                      next_chunk: Callable[[], Any]) -> web.StreamResponse:
    """Write `answer` as it comes; `next_chunk` fetches the next one off the event loop (None at the end)."""
    packer = zlib.compressobj(3, zlib.DEFLATED, 31) if gzip else None  # 31: the gzip container
    if packer:
        response.headers["Content-Encoding"] = "gzip"
    await response.prepare(request)
    chunk: bytes | None = answer.first
    try:
        while chunk is not None:
            await response.write(packer.compress(chunk) if packer else chunk)
            chunk = await next_chunk()
    except QueryError as exc:  # after the status line: in the body, then the connection ends
        text = exc.clickhouse_text().encode()
        await response.write(packer.compress(text) + packer.flush() if packer else text)
        if request.transport is not None:
            request.transport.close()
        return response
    if packer:
        await response.write(packer.flush())
    await response.write_eof()
    return response
