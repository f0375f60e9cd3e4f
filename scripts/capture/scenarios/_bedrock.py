"""Bedrock scenarios with boto3's bedrock-runtime client, shared by the scripts that instrument it (bedrock-*.py).

`client` is a bedrock-runtime client with retries off (total_max_attempts=1); `retry_client` one with botocore's
standard retries. The stand-in (stand_in_bedrock.py) reports Converse usage as Bedrock does: inputTokens
without the cache reads and writes beside it.
"""

from __future__ import annotations

import json

from _common import PROMPT, _failed, app_retry, scenario

CLAUDE_BEDROCK = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"
TOOLS = {"tools": [{"toolSpec": {"name": "get_capital", "description": "The capital city of a country.",
                                 "inputSchema": {"json": {"type": "object",
                                                          "properties": {"country": {"type": "string"}}}}}}]}


def _user(text: str) -> list[dict]:
    return [{"role": "user", "content": [{"text": text}]}]


def _invoke_body(text: str) -> str:
    return json.dumps({"anthropic_version": "bedrock-2023-05-31", "max_tokens": 256,
                       "messages": [{"role": "user", "content": text}]})


def _tool_loop(client) -> None:
    """The app's own Converse tool loop: get_capital twice, then the answer: three calls."""
    messages = _user(f"call-tool-twice: {PROMPT}")
    for _ in range(5):
        response = client.converse(modelId=CLAUDE_BEDROCK, messages=messages, toolConfig=TOOLS)
        message = response["output"]["message"]
        uses = [block["toolUse"] for block in message["content"] if "toolUse" in block]
        if not uses:
            return
        messages += [message, {"role": "user", "content": [
            {"toolResult": {"toolUseId": use["toolUseId"], "content": [{"text": "Paris"}]}} for use in uses]}]
    raise SystemExit("tool loop did not end")


def bedrock_scenarios(client, retry_client) -> None:
    with scenario("converse"):
        client.converse(modelId=CLAUDE_BEDROCK, messages=_user(PROMPT))
    with scenario("converse_stream"):
        for _ in client.converse_stream(modelId=CLAUDE_BEDROCK, messages=_user(PROMPT))["stream"]:
            pass
    with scenario("invoke_model"):
        json.loads(client.invoke_model(modelId=CLAUDE_BEDROCK, body=_invoke_body(PROMPT))["body"].read())
    with scenario("invoke_model_stream"):
        for _ in client.invoke_model_with_response_stream(modelId=CLAUDE_BEDROCK, body=_invoke_body(PROMPT))["body"]:
            pass
    with scenario("tool_loop"):
        _tool_loop(client)
    with scenario("reasoning"):
        client.converse(modelId=CLAUDE_BEDROCK, messages=_user(PROMPT), inferenceConfig={"maxTokens": 2048},
                        additionalModelRequestFields={"thinking": {"type": "enabled", "budget_tokens": 1024}})
    with scenario("sdk_retry"):
        # botocore's own retry of the ThrottlingException, inside one converse() call.
        retry_client.converse(modelId=CLAUDE_BEDROCK, messages=_user("rate-limit-once sdk retry"))
    with scenario("rate_limited_retry"):
        app_retry(lambda messages: client.converse(modelId=CLAUDE_BEDROCK, messages=_user(messages[0]["content"])),
                  errors=("ThrottlingException",))
    with scenario("failed"):
        _failed(lambda: client.converse(modelId=CLAUDE_BEDROCK, messages=_user("fail-always please")))
