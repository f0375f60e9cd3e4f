"""LiteLLM Python SDK with its OpenTelemetry callback (as litellm.py) on calls priced by the image and by the
second of audio: image generation (DALL-E 3, two images) and audio transcription (whisper-1, the stand-in's
fake_provider.AUDIO_SECONDS of audio), each with its span parented on the app span.
"""

import io
import os
import sys
import time
import wave
from pathlib import Path

os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
os.environ["OTEL_EXPORTER"] = "otlp_http"
os.environ["OTEL_ENDPOINT"] = os.environ["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"]
os.environ.setdefault("OTEL_SERVICE_NAME", "capture-litellm-media")

from _common import scenario  # noqa: E402

# litellm.py beside this script is a scenario script: drop this folder from sys.path so `import litellm` finds
# the package.
_here = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _here]
sys.modules.pop("litellm", None)
import litellm  # noqa: E402
from litellm.integrations.opentelemetry import OpenTelemetry  # noqa: E402
from opentelemetry import trace  # noqa: E402

litellm.callbacks = [OpenTelemetry()]
OPENAI = {"api_base": os.environ["OPENAI_BASE_URL"], "api_key": os.environ["OPENAI_API_KEY"]}


def parent() -> dict:
    return {"metadata": {"litellm_parent_otel_span": trace.get_current_span()}}


def audio() -> io.BytesIO:
    """A short silent WAV file (the stand-in does not listen: it reports its fixed length)."""
    data = io.BytesIO()
    with wave.open(data, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(b"\0\0" * 800)
    data.seek(0)
    data.name = "question.wav"
    return data


with scenario("image_generation"):
    litellm.image_generation(model="openai/dall-e-3", prompt="The Eiffel tower at dawn", n=2, **OPENAI, **parent())
with scenario("transcription"):
    litellm.transcription(model="openai/whisper-1", file=audio(), **OPENAI, **parent())
with scenario("transcription_verbose"):
    litellm.transcription(model="openai/whisper-1", file=audio(), response_format="verbose_json", **OPENAI,
                          **parent())
time.sleep(1)
trace.get_tracer_provider().shutdown()
