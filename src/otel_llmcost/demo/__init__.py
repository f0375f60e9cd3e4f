"""`otel-llmcost demo`: realistic LLM traffic over OTLP, so a fresh install has something to show."""
