"""Operator endpoints on the OTLP/HTTP port: GET /healthz (the process answers), GET /readyz (ready to accept:
exports are acknowledged, the spool disk is not full and the store is not failing), GET /storez (the store
is open: `serve` opens it after the receivers listen, and acknowledges into the spool meanwhile) and GET
/metrics (Prometheus text format).

They carry no tenant data, so they need no API key; the receiver's address decides who reaches them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

from aiohttp import web

_PROMETHEUS_TEXT = "text/plain; version=0.0.4; charset=utf-8"


@dataclass(frozen=True)
class OpsSources:
    metrics: Callable[[], str]  # the exposition text
    readiness: Callable[[], list[str]]  # problems; empty when ready
    store_state: Callable[[], str] = lambda: "open"  # store/opening.py: "opening", "open" or "failed"


def add_ops_routes(app: web.Application, sources: OpsSources) -> None:
    async def healthz(_request: web.Request) -> web.Response:
        return web.Response(text="ok\n")

    async def readyz(_request: web.Request) -> web.Response:
        problems = await asyncio.get_running_loop().run_in_executor(None, sources.readiness)
        if problems:
            return web.Response(status=503, text="\n".join(problems) + "\n")
        return web.Response(text="ready\n")

    async def storez(_request: web.Request) -> web.Response:
        state = sources.store_state()
        return web.Response(status=200 if state == "open" else 503, text=state + "\n")

    async def metrics(_request: web.Request) -> web.Response:
        text = await asyncio.get_running_loop().run_in_executor(None, sources.metrics)
        response = web.Response(text=text)
        response.headers["Content-Type"] = _PROMETHEUS_TEXT
        return response

    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/storez", storez)
    app.router.add_get("/metrics", metrics)
