"""The demo's imaginary SaaS: who calls which model for what, as plain data (no OpenTelemetry here).

`plan_request` turns a random generator and a start time into one request: the calls it makes, their
attempts (rate limits are retried, some requests fail for good), tokens by kind, latency and streaming.
Every model is one the bundled price book prices, except the self-hosted one, which shows what unpriced
usage looks like. `spike` multiplies one feature's prompt tokens tenfold (the anomaly alert's demo).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta


@dataclass(frozen=True, slots=True)
class Model:
    provider: str  # gen_ai.provider.name, as the price book names providers
    name: str
    server: str
    cache: str  # "openai": automatic cache reads; "anthropic": explicit cache writes then reads; "": none


@dataclass(frozen=True, slots=True)
class Feature:
    name: str
    service: str
    models: tuple[Model, ...]
    prompt_tokens: int  # mean prompt size
    output_tokens: int
    calls: tuple[int, int]  # LLM calls per request, min..max (an agent loop makes several)
    streaming: bool
    weight: int  # share of the traffic
    project: str = ""  # what the tenant charges it to (llm.project)


@dataclass(frozen=True, slots=True)
class Tenant:
    name: str
    environment: str
    users: int
    weight: int


GPT_4O_MINI = Model("openai", "gpt-4o-mini", "api.openai.com", "openai")
GPT_4_1 = Model("openai", "gpt-4.1", "api.openai.com", "openai")
SONNET = Model("anthropic", "claude-sonnet-4-5", "api.anthropic.com", "anthropic")
HAIKU = Model("anthropic", "claude-haiku-4-5", "api.anthropic.com", "anthropic")
GEMINI_FLASH = Model("gcp.gemini", "gemini-2.5-flash", "generativelanguage.googleapis.com", "")
MISTRAL_SMALL = Model("mistral_ai", "mistral-small-latest", "api.mistral.ai", "")
SELF_HOSTED = Model("vllm", "acme-tagger-8b", "tagger.internal", "")  # no price: shows as unpriced

FEATURES = (
    Feature("chat", "assistant-api", (GPT_4O_MINI, SONNET), 1800, 350, (1, 2), True, 40, "assistant"),
    Feature("summarize", "docs-api", (HAIKU, GEMINI_FLASH), 6000, 400, (1, 1), False, 25, "documents"),
    Feature("search", "search-api", (GPT_4O_MINI, MISTRAL_SMALL), 900, 120, (1, 1), False, 20, "search"),
    Feature("agent", "assistant-api", (SONNET, GPT_4_1), 4000, 600, (2, 5), True, 10, "assistant"),
    Feature("tagging", "docs-api", (SELF_HOSTED,), 500, 20, (1, 1), False, 5, "documents"),
)
TENANTS = (
    Tenant("acme", "prod", 40, 50),
    Tenant("globex", "prod", 25, 30),
    Tenant("initech", "staging", 8, 20),
)
SPIKE_FACTOR = 10
RATE_LIMIT_SHARE = 0.06  # first attempts answered 429
OUTAGE_SHARE = 0.01  # calls that fail on every attempt (the request fails)
MAX_ATTEMPTS = 3


@dataclass(frozen=True, slots=True)
class Attempt:
    start: datetime
    end: datetime
    error_type: str  # "" = success
    input_tokens: int = 0  # includes cache reads and writes
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    output_tokens: int = 0
    ttft_s: float | None = None  # streamed calls only


@dataclass(frozen=True, slots=True)
class Call:
    model: Model
    streaming: bool
    attempts: tuple[Attempt, ...]


@dataclass(frozen=True, slots=True)
class Request:
    request_id: str
    tenant: Tenant
    feature: Feature
    user_id: str
    session_id: str
    start: datetime
    end: datetime
    calls: tuple[Call, ...] = field(default=())


def feature_named(name: str) -> Feature:
    for feature in FEATURES:
        if feature.name == name:
            return feature
    raise KeyError(name)


def plan_request(rng: random.Random, start: datetime, number: int, spike: str | None = None) -> Request:
    tenant = rng.choices(TENANTS, [t.weight for t in TENANTS])[0]
    feature = rng.choices(FEATURES, [f.weight for f in FEATURES])[0]
    user = rng.randrange(tenant.users)
    prompt_scale = SPIKE_FACTOR if feature.name == spike else 1
    at, calls = start + timedelta(milliseconds=rng.uniform(2, 20)), []
    for _ in range(rng.randint(*feature.calls)):
        call = _plan_call(rng, at, feature, prompt_scale)
        calls.append(call)
        at = call.attempts[-1].end + timedelta(milliseconds=rng.uniform(1, 30))
    return Request(
        request_id=f"req-{number:06d}-{rng.getrandbits(32):08x}", tenant=tenant, feature=feature,
        user_id=f"{tenant.name}-user-{user:02d}", session_id=f"{tenant.name}-session-{user:02d}-{start:%Y%m%d}",
        start=start, end=at + timedelta(milliseconds=rng.uniform(1, 15)), calls=tuple(calls),
    )


def _plan_call(rng: random.Random, start: datetime, feature: Feature, prompt_scale: int) -> Call:
    model = rng.choice(feature.models)
    fails_for_good = rng.random() < OUTAGE_SHARE
    attempts, at = [], start
    for number in range(1, MAX_ATTEMPTS + 1):
        if fails_for_good or (number == 1 and rng.random() < RATE_LIMIT_SHARE):
            end = at + timedelta(milliseconds=rng.uniform(30, 200))
            error = "ServiceUnavailableError" if fails_for_good else "RateLimitError"
            attempts.append(Attempt(at, end, error))
            if number == MAX_ATTEMPTS:
                break
            at = end + timedelta(milliseconds=200 * number)  # backoff
            continue
        attempts.append(_success(rng, at, model, feature, prompt_scale))
        break
    return Call(model, feature.streaming, tuple(attempts))


def _success(rng: random.Random, start: datetime, model: Model, feature: Feature, prompt_scale: int) -> Attempt:
    prompt = max(50, int(rng.gauss(feature.prompt_tokens, feature.prompt_tokens / 4))) * prompt_scale
    output = max(5, int(rng.gauss(feature.output_tokens, feature.output_tokens / 3)))
    cache_read = cache_write = 0
    if model.cache == "openai" and prompt >= 1024 and rng.random() < 0.6:
        cache_read = (prompt * rng.randint(30, 80) // 100) // 128 * 128  # cached in 128-token steps
    elif model.cache == "anthropic":
        if rng.random() < 0.2:
            cache_write = prompt * 6 // 10  # the system prompt is written to the cache ...
        else:
            cache_read = prompt * 6 // 10  # ... and read back by the next calls
    # Latency grows with output; a streamed call shows its first token early.
    latency_ms = rng.uniform(250, 600) + output * rng.uniform(8, 20)
    ttft = rng.uniform(0.15, 0.6) if feature.streaming else None
    return Attempt(start, start + timedelta(milliseconds=latency_ms), "", prompt, cache_read, cache_write, output,
                   ttft)


def backfill_starts(rng: random.Random, since: datetime, until: datetime, per_day: int) -> list[datetime]:
    """Request start times from `since` to `until`, about `per_day` a day, busier in working hours (UTC)."""
    starts, hour = [], since.replace(minute=0, second=0, microsecond=0)
    while hour < until:
        busy = 1.6 if 8 <= hour.hour < 18 else 0.5
        for _ in range(_poisson(rng, per_day / 24 * busy)):
            moment = hour + timedelta(seconds=rng.uniform(0, 3600))
            if since <= moment < until:
                starts.append(moment)
        hour += timedelta(hours=1)
    return sorted(starts)


def _poisson(rng: random.Random, mean: float) -> int:
    count, threshold, product = 0, pow(2.718281828459045, -mean), rng.random()
    while product > threshold:
        count += 1
        product *= rng.random()
    return count
