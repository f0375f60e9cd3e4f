"""`otel-llmcost demo` into a real receiver: the traffic has every shape the dashboards and alerts show."""

from __future__ import annotations

import random
import re
import signal
import socket
import subprocess
import sys
from datetime import datetime, timezone

from conftest import run_cli
from otel_llmcost.demo.run import today_start
from otel_llmcost.demo.workload import SPIKE_FACTOR, plan_request

NOW = datetime(2026, 11, 20, 15, 30, tzinfo=timezone.utc)


def test_spike_makes_only_that_features_prompts_ten_times_longer():
    plain = [plan_request(random.Random(n), NOW, n) for n in range(200)]
    spiked = [plan_request(random.Random(n), NOW, n, spike="summarize") for n in range(200)]
    for before, after in zip(plain, spiked, strict=True):
        factor = SPIKE_FACTOR if before.feature.name == "summarize" else 1
        for call_before, call_after in zip(before.calls, after.calls, strict=True):
            for a, b in zip(call_before.attempts, call_after.attempts, strict=True):
                assert b.input_tokens == a.input_tokens * factor or b.input_tokens == a.input_tokens == 0


def test_token_counts_follow_the_receivers_convention():
    for n in range(300):
        for call in plan_request(random.Random(n), NOW, n).calls:
            for attempt in call.attempts:
                assert attempt.cache_read_tokens + attempt.cache_write_tokens <= attempt.input_tokens
                assert (attempt.ttft_s is not None) == (call.streaming and not attempt.error_type)
                assert attempt.start < attempt.end


def test_demo_says_when_the_endpoint_takes_nothing(monkeypatch):
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "1")  # seconds the exporter keeps retrying

    with socket.socket() as closed:  # a port nobody listens on
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    result = run_cli("demo", "--endpoint", f"http://127.0.0.1:{port}", "--duration", "0.2", "--rate", "5",
                     check=False)
    assert result.returncode == 1 and "were not accepted by" in result.stderr


def test_demo_backfills_days_with_every_kind_of_call(receiver_factory):
    receiver = receiver_factory()
    result = run_cli("demo", "--protocol", "grpc", "--endpoint", f"http://127.0.0.1:{receiver.grpc_port}",
                     "--backfill-days", "2", "--per-day", "120", "--duration", "1", "--rate", "3",
                     "--spike", "summarize", "--seed", "7")
    assert "100%" in result.stderr and "requests" in result.stderr
    receiver.stop()
    [row] = receiver.sql(
        "SELECT uniqExact(tenant_id) AS tenants, uniqExact(provider) AS providers, uniqExact(user_id) AS users,"
        " uniqExact(toDate(ts)) AS days, countIf(attempt > 1) AS retries, countIf(status = 'error') AS failures,"
        " countIf(streaming AND ttft_ms IS NOT NULL) AS streamed, sum(cache_read_tokens) > 0 AS cache_reads,"
        " sum(cache_write_tokens) > 0 AS cache_writes, countIf(cost_status = 'unpriced') AS unpriced,"
        " countIf(cost_status = 'priced') AS priced, uniqExact(service_name) AS services,"
        " uniqExact(environment) AS environments FROM llmcost.llm_usage")
    assert row["tenants"] == 3 and row["providers"] == 5 and row["services"] == 3 and row["environments"] == 2
    assert row["days"] >= 3 and row["users"] > 10  # 2 past days and today's window
    assert min(row["retries"], row["failures"], row["streamed"], row["unpriced"]) > 0
    assert row["cache_reads"] and row["cache_writes"] and row["priced"] > row["unpriced"]
    spike_from = today_start(datetime.now(timezone.utc)).strftime("%Y-%m-%d %H:%M:%S")
    prompts = receiver.sql(
        "SELECT ts >= toDateTime64('" + spike_from + "', 6, 'UTC') AS today,"
        " avg(input_tokens) AS prompt FROM llmcost.llm_usage"
        " WHERE feature = 'summarize' AND status = 'ok' GROUP BY today ORDER BY today")
    assert [p["today"] for p in prompts] == [False, True]
    assert 6 < prompts[1]["prompt"] / prompts[0]["prompt"] < 15


def _as_a_terminal_starts_it() -> None:
    """Ctrl-C reaches a foreground command with SIGINT at its default. A process that runs many tests may have
    had SIGINT set to ignored below Python (where signal.getsignal does not see it), and an ignored signal is
    inherited: the demo rightly keeps ignoring it then, as a shell's background job does."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_the_live_progress_never_passes_its_total_and_ctrl_c_prints_the_summary(receiver_factory):
    receiver = receiver_factory()
    endpoint = f"http://127.0.0.1:{receiver.http_port}"
    quick = run_cli("demo", "--endpoint", endpoint, "--duration", "1", "--rate", "40", "--seed", "3")
    counts = [tuple(map(int, found)) for found in re.findall(r"(\d+)/(\d+) requests", quick.stderr)]
    assert counts and all(done <= total == 40 for done, total in counts)

    demo = subprocess.Popen([sys.executable, "-m", "otel_llmcost", "demo", "--endpoint", endpoint, "--duration",
                             "inf", "--rate", "20"], stderr=subprocess.PIPE, text=True,
                            preexec_fn=_as_a_terminal_starts_it)
    with demo:  # its pipe is closed and the process reaped even when an assert fails (no leak into later tests)
        try:
            assert demo.stderr is not None
            assert "live: 1 requests" in demo.stderr.readline()  # sending
            demo.send_signal(signal.SIGINT)
            _, rest = demo.communicate(timeout=60)
        finally:
            demo.kill()  # nothing when it has ended
    assert demo.returncode == 130
    summary = re.search(r"interrupted: sent (\d+) requests \((\d+) spans\) over OTLP/HTTP", rest)
    assert summary and int(summary.group(1)) >= 1, rest


def test_ctrl_c_stops_a_demo_started_with_sigint_blocked(receiver_factory):
    """A signal mask is inherited: a parent that left SIGINT blocked (chDB leaves SIGPIPE blocked in the thread
    that ran it) must not make the demo deaf to Ctrl-C."""
    receiver = receiver_factory()
    blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        demo = subprocess.Popen([sys.executable, "-m", "otel_llmcost", "demo", "--endpoint",
                                 f"http://127.0.0.1:{receiver.http_port}", "--duration", "inf", "--rate", "20"],
                                stderr=subprocess.PIPE, text=True, preexec_fn=_as_a_terminal_starts_it)
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
    with demo:
        try:
            assert demo.stderr is not None
            assert "live: 1 requests" in demo.stderr.readline()
            demo.send_signal(signal.SIGINT)
            _, rest = demo.communicate(timeout=60)
        finally:
            demo.kill()
    assert demo.returncode == 130 and "interrupted: sent" in rest, rest
