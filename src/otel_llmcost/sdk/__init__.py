"""Pricing inside the app, for opentelemetry-sdk users: one call sets it up.

    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
    from otel_llmcost import sdk

    provider = TracerProvider()
    sdk.setup(provider, exporter=OTLPSpanExporter())            # spans on to any exporter, LLM calls priced
    sdk.setup(provider, clickhouse="clickhouse://user:pass@ch:9000/llmcost")   # or rows straight to ClickHouse

Needs the `sdk` extra (opentelemetry-sdk); nothing here imports chDB. The ClickHouse server path uses
clickhouse-driver, and expects the schema in place (`otel-llmcost migrate --clickhouse URL`).
"""

from __future__ import annotations

from typing import Any

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter

from otel_llmcost.sdk.core import InAppPricer
from otel_llmcost.sdk.exporters import PricingSpanExporter, UsageRowExporter


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
    else:
        if store is None:
            from urllib.parse import urlparse

            from otel_llmcost.store.server_store import ServerStore

            assert clickhouse is not None  # checked above: no exporter and no store means a URL
            store = ServerStore(clickhouse, urlparse(clickhouse).path.strip("/") or "llmcost", False)
        added = UsageRowExporter(store, pricer)
    provider.add_span_processor(BatchSpanProcessor(added))
    return added


__all__ = ["InAppPricer", "PricingSpanExporter", "UsageRowExporter", "setup"]
