"""Model family inference: which vendor family a model name belongs to.

>>> infer_family("gpt-4o-mini")
'openai'
>>> infer_family("anthropic/claude-3-5-haiku-latest")
'anthropic'
>>> infer_family("openrouter/meta-llama/Llama-3.1-8B-Instruct")
'meta'
>>> infer_family("Qwen/Qwen2.5-7B-Instruct")
'qwen'
>>> infer_family("alpha-gen")
'alpha'
>>> infer_family("mixtral:8x7b")
'mistral'
>>> infer_family("x", families={"x": "custom"})
'custom'
"""

from __future__ import annotations

import re
from collections.abc import Mapping

#: Vendor prefixes matched at the start of a model name (after any ``provider/``), longest first.
KNOWN_PREFIXES: dict[str, str] = {
    "gpt": "openai", "o1": "openai", "o3": "openai", "o4": "openai", "chatgpt": "openai",
    "davinci": "openai", "text-davinci": "openai", "babbage": "openai", "openai": "openai",
    "claude": "anthropic", "anthropic": "anthropic",
    "llama": "meta", "meta-llama": "meta", "codellama": "meta", "tinyllama": "meta",
    "mistral": "mistral", "mixtral": "mistral", "codestral": "mistral", "ministral": "mistral",
    "qwen": "qwen", "qwq": "qwen",
    "gemini": "google", "gemma": "google", "palm": "google", "bison": "google",
    "command": "cohere", "cohere": "cohere",
    "deepseek": "deepseek", "phi": "microsoft", "yi": "01-ai", "grok": "xai",
    "falcon": "tii", "olmo": "allenai", "openhermes": "mistral", "neuralhermes": "mistral",
}
# Hosting providers / organisations that prefix a model id but say nothing about its family.
_HOSTS = {
    "openai", "anthropic", "azure", "bedrock", "vertex_ai", "openrouter", "together_ai", "together",
    "groq", "fireworks_ai", "ollama", "ollama_chat", "hosted_vllm", "vllm", "huggingface", "hf",
    "deepinfra", "replicate", "perplexity", "anyscale", "nvidia_nim", "sagemaker", "models",
}
_ORG_FAMILY = {
    "meta-llama": "meta", "mistralai": "mistral", "google": "google", "microsoft": "microsoft",
    "qwen": "qwen", "deepseek-ai": "deepseek", "tiiuae": "tii", "allenai": "allenai",
}
_SPLIT = re.compile(r"[-_:/ .]")


def infer_family(name: str, families: Mapping[str, str] | None = None) -> str:
    """Return the family of a model or generator ``name`` (lower case).

    ``families`` maps exact names to families and wins over inference.
    """
    if families and name in families:
        return families[name]
    parts = [p for p in name.strip().split("/") if p]
    if not parts:
        return "unknown"
    # Organisation ids (meta-llama/..., mistralai/...) say the family outright.
    for part in parts[:-1]:
        if part.lower() in _ORG_FAMILY:
            return _ORG_FAMILY[part.lower()]
    # Drop hosting prefixes such as "anthropic/" or "openrouter/" (keep the last segment always).
    while len(parts) > 1 and parts[0].lower() in _HOSTS:
        parts = parts[1:]
    base = parts[-1].lower()
    for prefix in sorted(KNOWN_PREFIXES, key=len, reverse=True):
        if base.startswith(prefix):
            return KNOWN_PREFIXES[prefix]
    token = _SPLIT.split(base, maxsplit=1)[0]
    return token or "unknown"
