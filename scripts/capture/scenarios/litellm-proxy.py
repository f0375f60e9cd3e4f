"""The LiteLLM proxy (otel callback) in front of the stand-in, called by an app whose openai SDK is instrumented
by opentelemetry-instrumentation-openai-v2, with W3C trace context propagated on every HTTP request.

The script starts `litellm --config <tmp> --port <free>` itself (a child process, stopped at the end). The proxy's
model_list maps gpt-4o-mini / text-embedding-3-small to the stand-in's OpenAI routes and claude-sonnet-4-5 to its
Anthropic route; no retries anywhere (num_retries 0, max_retries 0). Its otel callback exports with
OTEL_EXPORTER=otlp_http / OTEL_ENDPOINT=<sink>, resource service.name=capture-litellm-proxy.

The app's openai client gets an httpx event hook injecting `traceparent` from the current context (the openai-v2
`chat ...` span when the request goes out), as opentelemetry-instrumentation-httpx would (without its HTTP spans):
the proxy's spans for a call join the app's trace. So ONE call shows up twice with usage: the app's openai-v2
span and the proxy's litellm_request span (the double-count case).
"""

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

os.environ["OTEL_SEMCONV_STABILITY_OPT_IN"] = "gen_ai_latest_experimental"  # as openai-v2.py

import httpx  # noqa: E402
from _common import CLAUDE, MESSAGES, openai_scenarios, scenario, setup  # noqa: E402
from openai import OpenAI  # noqa: E402
from opentelemetry import propagate  # noqa: E402
from opentelemetry.instrumentation.openai_v2 import OpenAIInstrumentor  # noqa: E402

MASTER_KEY = "sk-proxy-capture"
CONFIG = """
model_list:
  - model_name: gpt-4o-mini
    litellm_params: {model: openai/gpt-4o-mini, api_base: os.environ/OPENAI_BASE_URL, \
api_key: os.environ/OPENAI_API_KEY, max_retries: 0}
  - model_name: text-embedding-3-small
    litellm_params: {model: openai/text-embedding-3-small, api_base: os.environ/OPENAI_BASE_URL, \
api_key: os.environ/OPENAI_API_KEY, max_retries: 0}
  - model_name: claude-sonnet-4-5
    litellm_params: {model: anthropic/claude-sonnet-4-5, api_base: os.environ/ANTHROPIC_BASE_URL, \
api_key: os.environ/ANTHROPIC_API_KEY, max_retries: 0}
litellm_settings:
  callbacks: ["otel"]
  num_retries: 0
router_settings:
  num_retries: 0
general_settings:
  master_key: """ + MASTER_KEY + "\n"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_proxy() -> tuple[subprocess.Popen, str]:
    folder = Path(tempfile.mkdtemp(prefix="litellm-proxy-"))
    (folder / "config.yaml").write_text(CONFIG)
    port = free_port()
    env = {**os.environ, "OTEL_EXPORTER": "otlp_http",
           "OTEL_ENDPOINT": os.environ["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"],
           "OTEL_SERVICE_NAME": "capture-litellm-proxy", "LITELLM_LOCAL_MODEL_COST_MAP": "True",
           "LITELLM_DONT_SHOW_FEEDBACK_BOX": "true", "LITELLM_TELEMETRY": "False"}
    env.pop("OTEL_SEMCONV_STABILITY_OPT_IN", None)  # the proxy keeps LiteLLM's default (litellm_request) spans
    litellm_cli = Path(sys.executable).with_name("litellm")
    log = open(folder / "proxy.log", "w")
    proxy = subprocess.Popen([str(litellm_cli), "--config", str(folder / "config.yaml"), "--host", "127.0.0.1",
                              "--port", str(port), "--num_workers", "1"], env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    for _ in range(240):
        if proxy.poll() is not None:
            raise SystemExit(f"proxy exited: {(folder / 'proxy.log').read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{base}/health/liveliness", timeout=1):
                return proxy, base
        except OSError:
            time.sleep(0.5)
    proxy.kill()
    raise SystemExit(f"proxy did not start: {(folder / 'proxy.log').read_text()[-3000:]}")


proxy, proxy_url = start_proxy()
try:
    provider = setup("capture-litellm-proxy-app")
    OpenAIInstrumentor().instrument()
    http_client = httpx.Client(event_hooks={"request": [lambda request: propagate.inject(request.headers)]})
    client = OpenAI(base_url=f"{proxy_url}/v1", api_key=MASTER_KEY, max_retries=0, http_client=http_client)
    openai_scenarios(client, include=("chat", "chat_stream", "embeddings"))
    with scenario("anthropic_messages"):
        # OpenAI-format request to the proxy, which calls the stand-in's Anthropic route.
        client.chat.completions.create(model=CLAUDE, messages=MESSAGES, max_tokens=256)
    # The proxy passes the stand-in's 429 through to the app's own retry loop.
    openai_scenarios(client, include=("rate_limited_retry",))
    provider.shutdown()
    time.sleep(7)  # the proxy's BatchSpanProcessor exports every 5 s
finally:
    proxy.send_signal(signal.SIGINT)
    try:
        proxy.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proxy.kill()
