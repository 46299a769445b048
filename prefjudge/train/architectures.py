"""Model dimensions for memory estimates: a table of the recipes' models, or a local config.json.

Configs cannot be downloaded here, so the full-size recipes' models are listed by hand (from
their published ``config.json``). A local model directory is read directly.

>>> dims_for("teknium/OpenHermes-2.5-Mistral-7B").num_layers
32
>>> round(dims_for("TinyLlama/TinyLlama-1.1B-intermediate-step-1431k-3T").n_params / 1e9, 2)
1.1
"""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from prefjudge.errors import ConfigError


class ModelDims(BaseModel):
    """What the estimator needs from a decoder-only transformer's config."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str
    num_layers: int
    hidden_size: int
    intermediate_size: int
    num_heads: int
    num_kv_heads: int
    vocab_size: int
    tie_word_embeddings: bool = False
    head_dim: int | None = None

    @property
    def q_dim(self) -> int:
        return self.num_heads * (self.head_dim or self.hidden_size // self.num_heads)

    @property
    def kv_dim(self) -> int:
        return self.num_kv_heads * (self.head_dim or self.hidden_size // self.num_heads)

    def module_shapes(self) -> dict[str, tuple[int, int]]:
        """(in, out) of each projection in one layer."""
        h, i = self.hidden_size, self.intermediate_size
        return {"q_proj": (h, self.q_dim), "k_proj": (h, self.kv_dim), "v_proj": (h, self.kv_dim),
                "o_proj": (self.q_dim, h), "gate_proj": (h, i), "up_proj": (h, i), "down_proj": (i, h)}

    @property
    def linear_params(self) -> int:
        return self.num_layers * sum(a * b for a, b in self.module_shapes().values())

    @property
    def embedding_params(self) -> int:
        return self.vocab_size * self.hidden_size * (1 if self.tie_word_embeddings else 2)

    @property
    def n_params(self) -> int:
        norms = (2 * self.num_layers + 1) * self.hidden_size
        return self.linear_params + self.embedding_params + norms


def _d(name, layers, hidden, inter, heads, kv, vocab, tied=False) -> ModelDims:
    return ModelDims(name=name, num_layers=layers, hidden_size=hidden, intermediate_size=inter,
                     num_heads=heads, num_kv_heads=kv, vocab_size=vocab, tie_word_embeddings=tied)


KNOWN: dict[str, ModelDims] = {d.name: d for d in (
    _d("mistral-7b", 32, 4096, 14336, 32, 8, 32000),
    _d("openhermes-2.5-mistral-7b", 32, 4096, 14336, 32, 8, 32002),
    _d("tinyllama-1.1b", 22, 2048, 5632, 32, 4, 32000),
    _d("llama-2-7b", 32, 4096, 11008, 32, 32, 32000),
    _d("llama-3.1-8b", 32, 4096, 14336, 32, 8, 128256),
    _d("llama-3.2-1b", 16, 2048, 8192, 32, 8, 128256, tied=True),
    _d("llama-3.2-3b", 28, 3072, 8192, 24, 8, 128256, tied=True),
    _d("qwen2.5-0.5b", 24, 896, 4864, 14, 2, 151936, tied=True),
    _d("qwen2.5-1.5b", 28, 1536, 8960, 12, 2, 151936, tied=True),
    _d("qwen2.5-3b", 36, 2048, 11008, 16, 2, 151936, tied=True),
    _d("qwen2.5-7b", 28, 3584, 18944, 28, 4, 152064),
    _d("qwen2.5-14b", 48, 5120, 13824, 40, 8, 152064),
)}

# Hub ids (lower-case) -> table key; checked before the substring rules below.
ALIASES = {
    "teknium/openhermes-2.5-mistral-7b": "openhermes-2.5-mistral-7b",
    "mlabonne/twinllama-3.1-8b": "llama-3.1-8b",
    "mlabonne/neuralhermes-2.5-mistral-7b": "openhermes-2.5-mistral-7b",
    "huggingfaceh4/zephyr-7b-beta": "mistral-7b",
}
SUBSTRINGS = (
    ("tinyllama", "tinyllama-1.1b"), ("qwen2.5-0.5b", "qwen2.5-0.5b"), ("qwen2.5-1.5b", "qwen2.5-1.5b"),
    ("qwen2.5-3b", "qwen2.5-3b"), ("qwen2.5-7b", "qwen2.5-7b"), ("qwen2.5-14b", "qwen2.5-14b"),
    ("llama-3.1-8b", "llama-3.1-8b"), ("llama-3-8b", "llama-3.1-8b"), ("llama-3.2-1b", "llama-3.2-1b"),
    ("llama-3.2-3b", "llama-3.2-3b"), ("llama-2-7b", "llama-2-7b"), ("mistral-7b", "mistral-7b"),
)


def dims_from_config(path: Path) -> ModelDims:
    """Read a local ``config.json`` (Llama/Mistral/Qwen2 field names)."""
    cfg = json.loads(path.read_text())
    cfg = cfg.get("text_config", cfg)
    heads = cfg["num_attention_heads"]
    return ModelDims(
        name=str(path.parent), num_layers=cfg["num_hidden_layers"], hidden_size=cfg["hidden_size"],
        intermediate_size=cfg["intermediate_size"], num_heads=heads,
        num_kv_heads=cfg.get("num_key_value_heads") or heads, vocab_size=cfg["vocab_size"],
        tie_word_embeddings=bool(cfg.get("tie_word_embeddings", False)), head_dim=cfg.get("head_dim"),
    )


def dims_for(name_or_path: str) -> ModelDims:
    """Dimensions of a local model (its config.json) or of a known Hub id."""
    config = Path(name_or_path) / "config.json"
    if config.is_file():
        return dims_from_config(config)
    key = name_or_path.lower()
    if key in ALIASES:
        return KNOWN[ALIASES[key]]
    for needle, arch in SUBSTRINGS:
        if needle in key:
            return KNOWN[arch]
    raise ConfigError(f"unknown model {name_or_path!r} for the memory estimate: not a local directory "
                      f"and not in the table ({', '.join(sorted(KNOWN))}); pass its dims explicitly")
