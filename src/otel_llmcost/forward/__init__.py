"""Forward stage: accepted spans go on to OTLP destinations, LLM calls with their cost (the processor role)."""

from otel_llmcost.forward.forwarder import Forwarder

__all__ = ["Forwarder"]
