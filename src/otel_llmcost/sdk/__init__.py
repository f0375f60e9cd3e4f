"""Pricing inside the app, for opentelemetry-sdk users: one call sets it up.

    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
    from otel_llmcost import sdk

    provider = TracerProvider()
    sdk.setup(provider, exporter=OTLPSpanExporter())            # spans on to any exporter, LLM calls priced
    sdk.setup(provider, clickhouse="clickhouse://user:pass@ch:9000/llmcost")   # or rows straight to ClickHouse

Needs the `sdk` extra (opentelemetry-sdk); nothing here imports chDB. The ClickHouse server path uses
clickhouse-driver, and expects the schema in place (`otel-llmcost migrate --clickhouse URL`). The server is
first connected to when rows are ready, not in setup: an app starts while its ClickHouse is unreachable.
"""

from __future__ import annotations

from typing import Any

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter

from otel_llmcost.sdk.core import InAppPricer
from otel_llmcost.sdk.exporters import PricingSpanExporter, UsageRowExporter
from otel_llmcost.store import UsageStore


def setup(provider: TracerProvider, exporter: SpanExporter | None = None, clickhouse: str | None = None,
          store: Any = None, **pricing: Any) -> SpanExporter:
    """Add a batch processor to `provider` that prices LLM calls and sends them on: to `exporter` (every span,
    LLM calls with their cost), or as rows to a ClickHouse server (`clickhouse` URL) or a UsageStore
    (`store`). `pricing`: InAppPricer's options (price_books, attribution_keys, trace_wait_seconds, ...).
    Returns the exporter added."""
    if (exporter is None) == (clickhouse is None and store is None):
        raise ValueError("give either an exporter, or a ClickHouse URL (or store) to write rows to")
    pricer = InAppPricer(**pricing)
    if exporter is not None:
        added: SpanExporter = PricingSpanExporter(exporter, pricer)
    elif store is not None:
        added = UsageRowExporter(store, pricer)
    else:
        assert clickhouse is not None  # checked above: no exporter and no store means a URL
        url = clickhouse

        def open_server() -> UsageStore:  # when rows are ready, and after each failure: never in setup
            from urllib.parse import urlparse

            from otel_llmcost.store.server_store import ServerStore

            return ServerStore(url, urlparse(url).path.strip("/") or "llmcost", False)

        added = UsageRowExporter(None, pricer, open_store=open_server)
    provider.add_span_processor(BatchSpanProcessor(added))
    return added


__all__ = ["InAppPricer", "PricingSpanExporter", "UsageRowExporter", "setup"]
