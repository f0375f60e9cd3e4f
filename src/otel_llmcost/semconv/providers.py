"""Provider names: every alias emitters use -> the OpenTelemetry `gen_ai.provider.name` value."""

from __future__ import annotations

_ALIASES = {
    "az.ai.openai": "azure.ai.openai",
    "azure": "azure.ai.openai",
    "azure_openai": "azure.ai.openai",
    "azure-openai": "azure.ai.openai",
    "az.ai.inference": "azure.ai.inference",
    "aws": "aws.bedrock",
    "amazon": "aws.bedrock",
    "bedrock": "aws.bedrock",
    "amazon-bedrock": "aws.bedrock",
    "vertex_ai": "gcp.vertex_ai",
    "vertexai": "gcp.vertex_ai",
    "google.vertex": "gcp.vertex_ai",
    "google-vertex": "gcp.vertex_ai",
    "gemini": "gcp.gemini",
    "google.generative-ai": "gcp.gemini",
    "google": "gcp.gen_ai",
    "mistral": "mistral_ai",
    "mistralai": "mistral_ai",
    "xai": "x_ai",
}


def normalize_provider(name: str, server_address: str = "") -> str:
    """Canonical provider name; the server address tells Azure OpenAI apart from OpenAI."""
    provider = name.strip().lower()
    provider = _ALIASES.get(provider, provider)
    if provider == "openai" and server_address.endswith(".openai.azure.com"):
        return "azure.ai.openai"
    return provider
