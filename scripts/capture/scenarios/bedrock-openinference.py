"""boto3 bedrock-runtime with the OpenInference instrumentation (openinference-instrumentation-bedrock).

Scenarios: _bedrock.py. CAPTURE_INSTRUMENTOR=traceloop runs the same with Traceloop's
opentelemetry-instrumentation-bedrock (bedrock-traceloop.py).
"""

import os

import boto3
from _bedrock import bedrock_scenarios
from _common import setup
from botocore.config import Config

instrumentor = os.environ.get("CAPTURE_INSTRUMENTOR", "openinference")
provider = setup(f"capture-bedrock-{instrumentor}")
if instrumentor == "openinference":
    from openinference.instrumentation.bedrock import BedrockInstrumentor
    BedrockInstrumentor().instrument(tracer_provider=provider)
else:
    from opentelemetry.instrumentation.bedrock import BedrockInstrumentor
    BedrockInstrumentor().instrument()


def client(**retries):
    return boto3.client("bedrock-runtime", config=Config(retries=retries))


# total_max_attempts counts the first try (botocore's max_attempts does not: max_attempts=1 is one retry).
bedrock_scenarios(client(total_max_attempts=1, mode="standard"), client(total_max_attempts=2, mode="standard"))
provider.shutdown()
