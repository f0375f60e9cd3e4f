"""Spend anomalies, budget thresholds, unpriced usage and a silent feed: the same SQL for Grafana's alert
rules and for `otel-llmcost anomalies` / `budgets`."""
