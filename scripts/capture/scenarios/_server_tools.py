"""Calls that make the provider run its own tools, billed by the call beside tokens: web searches and file
searches in the OpenAI Responses API, Anthropic's web search tool, Gemini's grounding with Google Search.
Shared by the server-tools-*.py scripts; the stand-in runs fake_provider.SERVER_TOOL_RUNS searches per call.
Clients are duck-typed (openai.OpenAI, anthropic.Anthropic, google.genai.Client), so this module imports
nothing but _common.
"""

from __future__ import annotations

from _common import CLAUDE, GPT, MESSAGES, PROMPT, scenario
from _gemini import GEMINI


def server_tool_scenarios(openai, anthropic, gemini) -> None:
    with scenario("responses_web_search"):
        openai.responses.create(model=GPT, input=PROMPT, tools=[{"type": "web_search"}])
    with scenario("responses_web_search_stream"):
        for _ in openai.responses.create(model=GPT, input=PROMPT, tools=[{"type": "web_search"}], stream=True):
            pass
    with scenario("responses_file_search"):
        openai.responses.create(model=GPT, input=PROMPT,
                                tools=[{"type": "file_search", "vector_store_ids": ["vs_standin"]}])
    with scenario("anthropic_web_search"):
        anthropic.messages.create(model=CLAUDE, max_tokens=256, messages=MESSAGES,
                                  tools=[{"type": "web_search_20250305", "name": "web_search", "max_uses": 5}])
    with scenario("gemini_grounding"):
        gemini.models.generate_content(model=GEMINI, contents=PROMPT, config={"tools": [{"google_search": {}}]})
