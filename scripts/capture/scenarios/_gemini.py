"""Gemini scenarios with the google-genai SDK, shared by the scripts that instrument it (google-genai-*.py).

`client` is a google.genai.Client built with retries off; `retry_client` one with one SDK retry. Configs are
given as dicts (the SDK accepts them), so this module imports nothing but _common. The stand-in's usage:
stand_in_gemini.USAGE.
"""

from __future__ import annotations

from _common import PROMPT, _failed, app_retry, scenario

GEMINI = "gemini-2.5-flash"


def get_capital(country: str) -> str:
    """The capital city of a country."""
    return "Paris"


def gemini_scenarios(client, retry_client) -> None:
    models = client.models
    with scenario("generate"):
        models.generate_content(model=GEMINI, contents=PROMPT)
    with scenario("cached"):
        # A prompt served from an explicit context cache: cachedContentTokenCount in the usage.
        models.generate_content(model=GEMINI, contents=PROMPT, config={"cached_content": "cachedContents/standin-1"})
    with scenario("thinking"):
        models.generate_content(model=GEMINI, contents=PROMPT, config={
            "thinking_config": {"include_thoughts": True, "thinking_budget": 1024}})
    with scenario("stream"):
        for _ in models.generate_content_stream(model=GEMINI, contents=PROMPT):
            pass
    with scenario("tool_loop"):
        # Automatic function calling: the SDK calls get_capital twice and the model three times, in one call.
        models.generate_content(model=GEMINI, contents=f"call-tool-twice: {PROMPT}", config={"tools": [get_capital]})
    with scenario("sdk_retry"):
        # The SDK's own retry (HttpRetryOptions): RESOURCE_EXHAUSTED once, then served, inside one call.
        retry_client.models.generate_content(model=GEMINI, contents="rate-limit-once sdk retry")
    with scenario("rate_limited_retry"):
        app_retry(lambda messages: models.generate_content(model=GEMINI, contents=messages[0]["content"]),
                  errors=("ClientError",))
    with scenario("failed"):
        _failed(lambda: models.generate_content(model=GEMINI, contents="fail-always please"))
