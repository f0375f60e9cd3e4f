"""Provider names: every alias emitters use -> the OpenTelemetry `gen_ai.provider.name` value; which names are
model providers at all (frameworks name themselves there too), where a server address says who served a call, and
how each provider's own API counts tokens."""

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


#: The model providers we know by name (the GenAI `gen_ai.provider.name` values and the hosts commonly seen).
#: A name outside this set (an agent framework's, "langchain", "openai_agents", "crewai"...) does not say who
#: billed the call: the provider is then found from the server address or the model (see usage.py).
KNOWN_PROVIDERS = frozenset({
    "openai", "anthropic", "aws.bedrock", "azure.ai.openai", "azure.ai.inference", "gcp.gemini", "gcp.vertex_ai",
    "gcp.gen_ai", "cohere", "deepseek", "groq", "ibm.watsonx.ai", "mistral_ai", "perplexity", "x_ai",
    "ollama", "together_ai", "fireworks_ai", "openrouter", "cerebras", "huggingface", "nvidia_nim", "sambanova",
})
#: Hosts that resell other vendors' models: a model priced by its vendor and a host is the vendor's by default.
RESELLERS = frozenset({"azure.ai.openai", "azure.ai.inference", "aws.bedrock", "gcp.vertex_ai", "openrouter",
                       "together_ai", "fireworks_ai", "groq", "cerebras", "nvidia_nim", "sambanova"})
#: Names that cover several providers' prices: the model decides which one within the family.
UMBRELLAS = {"gcp.gen_ai": "gcp."}

#: Hosts whose address names the provider: suffix -> provider.
_HOSTS = (
    ("api.openai.com", "openai"), (".openai.azure.com", "azure.ai.openai"), ("api.anthropic.com", "anthropic"),
    ("generativelanguage.googleapis.com", "gcp.gemini"), ("aiplatform.googleapis.com", "gcp.vertex_ai"),
    (".amazonaws.com", "aws.bedrock"), ("api.mistral.ai", "mistral_ai"), ("api.groq.com", "groq"),
    ("api.deepseek.com", "deepseek"), ("api.x.ai", "x_ai"), ("api.cohere.com", "cohere"),
)

#: Providers whose own API reports input tokens WITHOUT the cached ones (Anthropic's input_tokens, Bedrock
#: Converse's inputTokens). An emitter that passes their numbers through under names that mean "inclusive"
#: (the GenAI v1.40 cache names) has not made them inclusive: only the numbers can tell.
RAW_INPUT_EXCLUDES_CACHE = frozenset({"anthropic", "aws.bedrock"})


def provider_from_host(server_address: str) -> str:
    """The provider a server address belongs to, "" when the address does not say (a proxy, localhost)."""
    host = server_address.strip().lower()
    return next((provider for suffix, provider in _HOSTS if host.endswith(suffix) or host == suffix.lstrip(".")), "")
