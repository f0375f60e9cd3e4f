"""otel/example_app.py against a real receiver over both transports; the wiring of otel/collector.yaml."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
import yaml

from otel_llmcost.config import ReceiverSettings

OTEL_DIR = Path(__file__).resolve().parent.parent / "otel"

#: The bundled price book's gpt-4o-mini price, USD per million tokens.
INPUT_PRICE, CACHE_READ_PRICE, OUTPUT_PRICE = Decimal("0.15"), Decimal("0.075"), Decimal("0.60")


def expected_cost(input_tokens: int, cache_read_tokens: int, output_tokens: int) -> Decimal:
    """input_tokens includes the cache reads, which are charged at the cache-read price instead."""
    per_million = (
        (input_tokens - cache_read_tokens) * INPUT_PRICE
        + cache_read_tokens * CACHE_READ_PRICE
        + output_tokens * OUTPUT_PRICE
    )
    return per_million / Decimal(1_000_000)


#: `--requests 3`, from the app's documented formula for request n: input 1000 + 100n (of which cache
#: reads 100n), output 200 + 10n. Request 3's first call is rate limited and retried: 3 requests, 4 rows.
#: (request_id, attempt, status, error_type, user_id, input_tokens, cache_read_tokens, output_tokens)
EXPECTED = [
    ("req-0001", 1, "ok", "", "u-alice", 1100, 100, 210),
    ("req-0002", 1, "ok", "", "u-bob", 1200, 200, 220),
    ("req-0003", 1, "error", "RateLimitError", "u-alice", 0, 0, 0),
    ("req-0003", 2, "ok", "", "u-alice", 1300, 300, 230),
]

ROW_QUERY = """
SELECT request_id, attempt, status, error_type, user_id, input_tokens, cache_read_tokens, output_tokens,
       tenant_id, feature, service_name, environment, span_name, provider, operation, request_model,
       response_model, response_id, cache_write_tokens, reasoning_tokens, cost_usd, cost_status, price_id,
       trace_id, parent_span_id
FROM llmcost.llm_usage ORDER BY request_id, attempt
"""


def run_example_app(*args: str) -> subprocess.CompletedProcess:
    # The runner's own OTEL_* settings (an endpoint, OTEL_SDK_DISABLED...) must not redirect the app.
    env = {key: value for key, value in os.environ.items() if not key.startswith("OTEL_")}
    result = subprocess.run(
        [sys.executable, str(OTEL_DIR / "example_app.py"), *args],
        capture_output=True, text=True, timeout=120, env=env,
    )
    assert result.returncode == 0, result.stderr
    return result


@pytest.mark.parametrize(("protocol", "tenant", "feature"), [
    ("http", "acme", "summarize"),
    ("grpc", "globex", "translate"),
])
def test_example_app_gives_exact_priced_rows(protocol, tenant, feature, receiver_factory):
    receiver = receiver_factory()
    endpoint = receiver.http_url if protocol == "http" else f"http://127.0.0.1:{receiver.grpc_port}"
    result = run_example_app("--protocol", protocol, "--endpoint", endpoint, "--tenant", tenant,
                             "--feature", feature, "--requests", "3")
    assert "Failed to export" not in result.stderr, result.stderr
    receiver.stop()

    rows = receiver.sql(ROW_QUERY)
    keys = ("request_id", "attempt", "status", "error_type", "user_id", "input_tokens", "cache_read_tokens",
            "output_tokens")
    assert [tuple(row[key] for key in keys) for row in rows] == EXPECTED
    for row, (*_, input_tokens, cache_read_tokens, output_tokens) in zip(rows, EXPECTED, strict=True):
        assert (row["tenant_id"], row["feature"]) == (tenant, feature)
        assert (row["service_name"], row["environment"]) == ("llmcost-example-app", "dev")
        assert (row["span_name"], row["provider"], row["operation"], row["request_model"]) == (
            "chat gpt-4o-mini", "openai", "chat", "gpt-4o-mini")
        assert (row["cache_write_tokens"], row["reasoning_tokens"]) == (0, 0)
        assert row["cost_status"] == "priced"
        assert row["price_id"].startswith("openai/gpt-4o-mini@")
        assert Decimal(row["cost_usd"]) == expected_cost(input_tokens, cache_read_tokens, output_tokens)
    ok_rows = [row for row in rows if row["status"] == "ok"]
    assert [row["response_model"] for row in ok_rows] == ["gpt-4o-mini-2024-07-18"] * 3
    assert [row["response_id"] for row in ok_rows] == [f"chatcmpl-example-000{n}" for n in (1, 2, 3)]
    assert (rows[2]["response_model"], rows[2]["response_id"]) == ("", "")

    # One trace per request; the failed call and its retry share the request's span as parent.
    assert len({row["trace_id"] for row in rows}) == 3
    assert rows[2]["trace_id"] == rows[3]["trace_id"]
    assert rows[2]["parent_span_id"] == rows[3]["parent_span_id"] != ""

    [totals] = receiver.sql("""
        SELECT count() AS calls, uniqExact(request_id) AS requests, countIf(attempt > 1) AS retries,
               countIf(status = 'error') AS errors, sum(cost_usd) AS usd
        FROM llmcost.llm_usage
    """)
    assert (totals["calls"], totals["requests"], totals["retries"], totals["errors"]) == (4, 3, 1, 1)
    assert Decimal(totals["usd"]) == sum(expected_cost(*tokens[-3:]) for tokens in EXPECTED)


def test_collector_config_forwards_otlp_to_the_receiver():
    config = yaml.safe_load((OTEL_DIR / "collector.yaml").read_text(encoding="utf-8"))
    pipeline = config["service"]["pipelines"]["traces"]

    def kind(component_id: str) -> str:
        return component_id.split("/", 1)[0]

    for section in ("receivers", "processors", "exporters"):
        for component_id in pipeline.get(section, []):
            assert component_id in config[section], f"{section}: {component_id} is used but not defined"

    [receiver_id] = pipeline["receivers"]
    assert kind(receiver_id) == "otlp"
    protocols = config["receivers"][receiver_id]["protocols"]
    assert protocols["grpc"]["endpoint"].endswith(":4317")
    assert protocols["http"]["endpoint"].endswith(":4318")

    [exporter_id] = pipeline["exporters"]
    assert kind(exporter_id) in ("otlp_grpc", "otlp")  # OTLP/gRPC: `otlp_grpc` since Collector v0.144
    exporter = config["exporters"][exporter_id]
    assert re.fullmatch(r"\$\{env:LLMCOST_ENDPOINT:-[\w.-]+:4317\}", exporter["endpoint"])
    assert exporter["tls"]["insecure"] is True
    assert exporter["sending_queue"]["enabled"] is True
    assert exporter["retry_on_failure"]["enabled"] is True
    batch = exporter["sending_queue"].get("batch")
    processors = [kind(p) for p in pipeline.get("processors", [])]
    assert batch is not None or "batch" in processors
    if batch and batch.get("sizer", exporter["sending_queue"].get("sizer")) == "bytes":
        assert batch["min_size"] <= batch["max_size"] < ReceiverSettings().max_request_bytes

    # The receiver needs every span: attribution comes from the LLM spans' ancestors.
    assert not set(processors) & {"tail_sampling", "probabilistic_sampler", "filter"}
    assert processors[:1] == ["memory_limiter"]
