"""otel-llmcost: turn OpenTelemetry GenAI spans into priced LLM usage rows in ClickHouse."""

__version__ = "0.1.0"
