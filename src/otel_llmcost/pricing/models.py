"""Model names as spans carry them -> the names a price book knows them by, most specific first.

Apps and SDKs decorate model ids: a provider prefix ("openai/gpt-4o", LiteLLM), a Bedrock cross-region
inference prefix ("us.anthropic.claude-...", "global."), Vertex publisher paths
("publishers/google/models/gemini-2.5-pro") and "@" versions ("claude-3-5-sonnet@20240620"), the Gemini
API's "models/" prefix.
"""

from __future__ import annotations

import re

_BEDROCK_REGION = re.compile(r"^(us|eu|apac|au|ca|jp|us-gov|global)\.(?=[a-z0-9-]+\.)")
_VERTEX_PATH = re.compile(r"^(projects/[^/]+/locations/[^/]+/)?publishers/[^/]+/models/")
_PROVIDER_PREFIXES = ("openai/", "anthropic/", "azure/", "bedrock/", "vertex_ai/", "gemini/", "google/",
                      "mistral/", "cohere/", "deepseek/", "xai/", "groq/", "together_ai/", "together/")


def candidate_names(provider: str, model: str) -> list[str]:
    """Lower-case names to look the model up by, the name as given first."""
    name = model.strip().lower()
    names = [name]
    for prefix in _PROVIDER_PREFIXES:
        if name.startswith(prefix):
            name = name[len(prefix):]
            names.append(name)
            break
    for rule in (_VERTEX_PATH, _BEDROCK_REGION):
        stripped = rule.sub("", name)
        if stripped != name:
            name = stripped
            names.append(name)
    if name.startswith("models/"):
        name = name[len("models/"):]
        names.append(name)
    if "@" in name:
        base, version = name.split("@", 1)
        names += [f"{base}-{version}", base]  # Vertex "claude-3-5-sonnet@20240620" = Anthropic's dated id
    return names
