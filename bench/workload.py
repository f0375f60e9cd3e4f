"""Realistic OTLP trace workloads for the benchmarks: serialized ExportTraceServiceRequest bodies.

make_batches: each trace an app root span (tenant.id, feature.name, request.id and HTTP noise), 2-4 non-LLM
children, and LLM call spans with GenAI v1.41 attributes plus the usual noise (1-2 KB gen_ai.input.messages).
make_firehose: deep app traces of plain spans (HTTP, database, cache, queue) with a few LLM calls among them.
"""

import json
import random
import time

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest as Request
from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

BATCH = 512  # the OTel SDK BatchSpanProcessor's default max_export_batch_size
MODELS = [("openai", "gpt-4o-mini"), ("openai", "gpt-4.1"), ("anthropic", "claude-haiku-4-5"),
          ("anthropic", "claude-sonnet-4-5-20250929"), ("openai", "acme-finetune-v3")]  # last one: unpriced
FEATURES = ["support-chat", "summarize", "search-answer", "email-draft"]
WORDS = "the order shipment refund customer account policy invoice delivery warranty please check".split()
CHILDREN = [  # non-LLM spans: never billed, yet decoded, spooled and buffered like the rest
    ("SELECT orders", Span.SPAN_KIND_CLIENT, {"db.system.name": "postgresql", "db.namespace": "shop",
     "db.query.text": "SELECT id, status, total FROM orders WHERE customer_id = $1 ORDER BY created_at DESC",
     "server.address": "pg.internal", "server.port": 5432}),
    ("GET", Span.SPAN_KIND_CLIENT, {"http.request.method": "GET", "url.full": "http://vectors.internal/q",
     "http.response.status_code": 200, "server.address": "vectors.internal", "server.port": 80}),
    ("retrieve_context", Span.SPAN_KIND_INTERNAL, {"app.retriever": "hybrid", "app.documents": 8}),
    ("render_prompt", Span.SPAN_KIND_INTERNAL, {"app.template": "support_v7", "app.template.version": 7}),
]
RESOURCE = {"service.name": "support-assistant", "service.version": "2.14.0", "host.name": "web-7f9c",
            "deployment.environment.name": "prod", "k8s.pod.name": "support-7f9c-x2", "cloud.region": "eu-1",
            "telemetry.sdk.name": "opentelemetry", "telemetry.sdk.language": "python"}


def add_attrs(repeated, items: dict) -> None:
    kinds = {bool: "bool_value", int: "int_value", float: "double_value", str: "string_value"}
    for key, value in items.items():
        kv = repeated.add(key=key)
        if isinstance(value, list):
            kv.value.array_value.values.extend(AnyValue(string_value=item) for item in value)
        else:
            setattr(kv.value, kinds[type(value)], value)


def template(name: str, kind: int, attrs: dict, error: bool = False) -> Span:
    span = Span(name=name, kind=kind)
    add_attrs(span.attributes, attrs)
    if error:
        span.status.code = Status.STATUS_CODE_ERROR
    return span


def chat_json(rng: random.Random, size: int) -> str:
    """A GenAI messages attribute (a JSON string) of about `size` bytes: noise decode must skip."""
    messages = []
    while sum(len(m["parts"][0]["content"]) + 50 for m in messages) < size:
        content = " ".join(rng.choices(WORDS, k=rng.randint(20, 60)))
        part = {"type": "text", "content": content}
        messages.append({"role": rng.choice(["user", "assistant"]), "parts": [part]})
    return json.dumps(messages)


def llm_template(rng: random.Random, i: int) -> Span:
    provider, model = MODELS[i % len(MODELS)]
    tokens = rng.randint(300, 4000)
    attrs = {"gen_ai.operation.name": "chat", "gen_ai.provider.name": provider, "gen_ai.request.model": model,
             "gen_ai.response.model": model, "gen_ai.usage.input_tokens": tokens,
             "gen_ai.usage.output_tokens": rng.randint(20, 800), "gen_ai.request.temperature": 0.2,
             "gen_ai.request.max_tokens": 1024, "gen_ai.response.finish_reasons": ["stop"],
             "server.address": f"api.{provider}.com", "server.port": 443,
             "gen_ai.input.messages": chat_json(rng, rng.randint(1000, 2000)),
             "gen_ai.output.messages": chat_json(rng, 300)}
    if i % 3 == 0:
        attrs["gen_ai.usage.cache_read.input_tokens"] = tokens // 2
    if i == 31:  # one failed call, so the error path and attempt numbering run too
        attrs["error.type"] = "timeout"
    return template(f"chat {model}", Span.SPAN_KIND_CLIENT, attrs, error=i == 31)


def make_batches(n_spans: int, llm_fraction: float, seed: int = 7):
    """Serialized exports of 512 spans. Span templates are copied (CopyFrom runs in C) to generate quickly.
    A trace's LLM calls and children precede its root: they end, so are exported, first. Exports split
    some traces, as real exporters do."""
    rng = random.Random(seed)
    roots = [template(f"POST /api/{FEATURES[i % 4]}", Span.SPAN_KIND_SERVER, {
        "tenant.id": f"tenant-{i % 5}", "feature.name": FEATURES[i % 4], "http.request.method": "POST",
        "http.route": f"/api/{FEATURES[i % 4]}", "http.response.status_code": 200, "url.scheme": "https",
        "url.path": f"/api/{FEATURES[i % 4]}", "user_agent.original": "Mozilla/5.0 (X11; Linux x86_64)",
        "client.address": f"10.0.3.{i}", "network.protocol.version": "1.1"}) for i in range(8)]
    children = [template(*child) for child in CHILDREN]
    llms = [llm_template(rng, i) for i in range(32)]
    llm_per_trace = 4 * llm_fraction / (1 - llm_fraction)  # 4 = the root + 3 children on average
    plan, traces, n_llm, t0 = [], 0, 0, time.time_ns() - 3600 * 10**9
    while len(plan) < n_spans:
        trace_id, root_id, start = rng.randbytes(16), rng.randbytes(8), t0 + traces * 1_000_000
        kids = [(0, rng.choice(children), rng.randbytes(8), root_id, {}) for _ in range(rng.randint(2, 4))]
        parents = [root_id] + [kid[2] for kid in kids]
        count = int(llm_per_trace) + (rng.random() < llm_per_trace % 1)
        calls = [(1, rng.choice(llms), rng.randbytes(8), rng.choice(parents),
                  {"gen_ai.response.id": f"chatcmpl-{rng.getrandbits(64):x}"}) for _ in range(count)]
        root = (0, rng.choice(roots), root_id, b"", {"request.id": f"req-{rng.getrandbits(64):x}"})
        plan += [(*span, trace_id, start + depth * 1000) for depth, span in enumerate(calls + kids + [root])]
        traces, n_llm = traces + 1, n_llm + count
    return _serialize(plan, rng) + (traces, n_llm)


def _serialize(plan: list, rng: random.Random) -> tuple[list[bytes], list[int]]:
    batches, counts = [], []
    for first in range(0, len(plan), BATCH):
        request = Request()
        resource_spans = request.resource_spans.add()
        add_attrs(resource_spans.resource.attributes, RESOURCE)
        scopes = [resource_spans.scope_spans.add() for _ in range(2)]
        scopes[0].scope.name, scopes[1].scope.name = "opentelemetry.instrumentation.fastapi", "openai_v2"
        for scope, source, span_id, parent, extra, trace_id, start in plan[first:first + BATCH]:
            span = scopes[scope].spans.add()
            span.CopyFrom(source)
            span.trace_id, span.span_id, span.parent_span_id = trace_id, span_id, parent
            span.start_time_unix_nano, span.end_time_unix_nano = start, start + rng.randint(10**6, 3 * 10**9)
            add_attrs(span.attributes, extra)
        batches.append(request.SerializeToString())
        counts.append(len(plan[first:first + BATCH]))
    return batches, counts


APP_SPANS = [  # a deep app trace's plain spans: HTTP, database, cache, queue, internal work
    ("GET /api/orders/{id}", Span.SPAN_KIND_SERVER, {"http.request.method": "GET", "http.route": "/api/orders/{id}",
     "http.response.status_code": 200, "url.scheme": "http", "url.path": "/api/orders/81723",
     "server.address": "orders.internal", "network.protocol.version": "1.1"}),
    ("SELECT shop.orders", Span.SPAN_KIND_CLIENT, {"db.system.name": "postgresql", "db.namespace": "shop",
     "db.operation.name": "SELECT", "db.collection.name": "orders",
     "db.query.text": "SELECT id, status, total FROM orders WHERE customer_id = $1", "server.address": "pg.internal",
     "server.port": 5432}),
    ("GET", Span.SPAN_KIND_CLIENT, {"db.system.name": "redis", "db.operation.name": "GET",
     "server.address": "cache.internal", "server.port": 6379}),
    ("publish order-events", Span.SPAN_KIND_PRODUCER, {"messaging.system": "kafka", "messaging.operation.type": "send",
     "messaging.destination.name": "order-events", "server.address": "kafka.internal"}),
    ("GET", Span.SPAN_KIND_CLIENT, {"http.request.method": "GET", "url.full": "http://inventory.internal/v2/stock",
     "http.response.status_code": 200, "server.address": "inventory.internal", "server.port": 80}),
    ("validate_cart", Span.SPAN_KIND_INTERNAL, {"code.function.name": "validate_cart", "app.items": 3}),
]


def make_firehose(n_spans: int, llm_fraction: float = 0.05, trace_spans: int = 40, seed: int = 11):
    """Serialized exports of 512 spans of deep app traces (depth up to 8) in which `llm_fraction` of the
    spans are LLM calls: what an app fleet sends when it exports every span. Same return as make_batches."""
    rng = random.Random(seed)
    roots = [template(f"POST /api/{FEATURES[i % 4]}", Span.SPAN_KIND_SERVER, {
        "tenant.id": f"tenant-{i % 5}", "feature.name": FEATURES[i % 4], "http.request.method": "POST",
        "http.route": f"/api/{FEATURES[i % 4]}", "http.response.status_code": 200, "url.scheme": "https",
        "client.address": f"10.0.3.{i}", "network.protocol.version": "1.1"}) for i in range(8)]
    plain = [template(*span) for span in APP_SPANS]
    llms = [llm_template(rng, i) for i in range(32)]
    calls_per_trace = max(1, round(trace_spans * llm_fraction))
    plan, traces, n_llm, t0 = [], 0, 0, time.time_ns() - 3600 * 10**9
    while len(plan) < n_spans:
        trace_id, root_id, start = rng.randbytes(16), rng.randbytes(8), t0 + traces * 1_000_000
        chain, spans = [root_id], []
        for _ in range(trace_spans - 1 - calls_per_trace):
            span_id = rng.randbytes(8)
            parent = chain[rng.randrange(len(chain))]
            spans.append((0, rng.choice(plain), span_id, parent, {}))
            if len(chain) < 8 and rng.random() < 0.3:  # deeper: the next spans may hang below this one
                chain.append(span_id)
        calls = [(1, rng.choice(llms), rng.randbytes(8), rng.choice(chain),
                  {"gen_ai.response.id": f"chatcmpl-{rng.getrandbits(64):x}"}) for _ in range(calls_per_trace)]
        root = (0, rng.choice(roots), root_id, b"", {"request.id": f"req-{rng.getrandbits(64):x}"})
        plan += [(*span, trace_id, start + depth * 1000) for depth, span in enumerate(calls + spans + [root])]
        traces, n_llm = traces + 1, n_llm + calls_per_trace
    return _serialize(plan, rng) + (traces, n_llm)
