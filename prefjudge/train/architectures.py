"""Model dimensions for memory estimates: a model's ``config.json``, or a table as the offline fallback.

:func:`dims_for` reads, in order: a local model folder's ``config.json``; the Hub's ``config.json``
of a repo id (``huggingface_hub.hf_hub_download``: the local Hub cache, or the Hub when online);
the table :data:`KNOWN` of common models (their published configs, listed by hand), saying why the
Hub was not used (offline, gated, not found). ``ModelDims.source`` records which. Dimensions can
also be given by hand (:func:`dims_with_overrides`, the CLI's ``--hidden-size``, ``--layers``,
``--params``...).

>>> dims_for("teknium/OpenHermes-2.5-Mistral-7B").num_layers
32
>>> round(dims_for("TinyLlama/TinyLlama-1.1B-intermediate-step-1431k-3T").n_params / 1e9, 2)
1.1
"""

from __future__ import annotations

import json
import re
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
    source: str | None = None
    """Where the dimensions come from (a config.json, the Hub, the table, the command line)."""

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
    ModelDims(name="gemma-2-2b", num_layers=26, hidden_size=2304, intermediate_size=9216, num_heads=8,
              num_kv_heads=4, vocab_size=256000, tie_word_embeddings=True, head_dim=256),
    ModelDims(name="gemma-2-9b", num_layers=42, hidden_size=3584, intermediate_size=14336, num_heads=16,
              num_kv_heads=8, vocab_size=256000, tie_word_embeddings=True, head_dim=256),
    ModelDims(name="gemma-2-27b", num_layers=46, hidden_size=4608, intermediate_size=36864, num_heads=32,
              num_kv_heads=16, vocab_size=256000, tie_word_embeddings=True, head_dim=128),
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
    ("gemma-2-2b", "gemma-2-2b"), ("gemma-2-9b", "gemma-2-9b"), ("gemma-2-27b", "gemma-2-27b"),
)
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


def dims_from_config(path: Path, name: str | None = None, source: str | None = None) -> ModelDims:
    """Read a ``config.json`` (Llama/Mistral/Qwen2/Gemma field names; a multimodal config's
    ``text_config``)."""
    return dims_from_dict(json.loads(path.read_text()), path, name, source)


def dims_from_dict(cfg: dict, path: Path | str, name: str | None = None, source: str | None = None) -> ModelDims:
    """:func:`dims_from_config` of a parsed config (``path`` names it in messages)."""
    path = Path(path)
    cfg = cfg.get("text_config", cfg)
    try:
        heads = cfg["num_attention_heads"]
        return ModelDims(
            name=name or str(path.parent), num_layers=cfg["num_hidden_layers"], hidden_size=cfg["hidden_size"],
            intermediate_size=cfg["intermediate_size"], num_heads=heads,
            num_kv_heads=cfg.get("num_key_value_heads") or heads, vocab_size=cfg["vocab_size"],
            tie_word_embeddings=bool(cfg.get("tie_word_embeddings", False)), head_dim=cfg.get("head_dim"),
            source=source or f"config.json at {path}",
        )
    except KeyError as err:
        raise ConfigError(f"{path}: no {err.args[0]!r} in the model config (not a decoder-only transformer "
                          "this estimate knows); give the dimensions by hand") from None


HUB_TIMEOUT_S = 10.0


def hub_config(repo_id: str) -> dict:
    """The Hub's ``config.json`` of ``repo_id``: from the local Hub cache, else (unless
    ``HF_HUB_OFFLINE``) one request with a short timeout and no retries; raises on failure."""
    import os

    from huggingface_hub import constants, try_to_load_from_cache

    cached = try_to_load_from_cache(repo_id, "config.json")
    if isinstance(cached, str):
        return json.loads(Path(cached).read_text())
    if constants.HF_HUB_OFFLINE or os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on"):
        raise ConnectionError("offline (HF_HUB_OFFLINE is set) and not in the local Hub cache")
    from huggingface_hub import get_session, hf_hub_url
    from huggingface_hub.utils import build_hf_headers

    response = get_session().get(hf_hub_url(repo_id, "config.json"), headers=build_hf_headers(),
                                 timeout=HUB_TIMEOUT_S, follow_redirects=True)
    if response.status_code != 200:
        raise ConnectionError(f"HTTP {response.status_code} (gated, private or missing repo)")
    return response.json()


def _from_table(name_or_path: str) -> ModelDims | None:
    key = name_or_path.lower()
    if key in ALIASES:
        return KNOWN[ALIASES[key]]
    for needle, arch in SUBSTRINGS:
        if needle in key:
            return KNOWN[arch]
    return None


def dims_for(name_or_path: str, *, hub: bool = True) -> ModelDims:
    """Dimensions of a model: its local ``config.json``, else the Hub's (``hub``), else the table.

    When the Hub cannot be read (offline, gated, not found) a table entry is used and its
    ``source`` says why the Hub was not; neither: ``ConfigError``, naming the dimension options.
    """
    config = Path(name_or_path) / "config.json"
    if config.is_file():
        return dims_from_config(config)
    hub_error = None
    if hub and _HUB_ID.match(name_or_path) and not Path(name_or_path).exists():
        try:
            return dims_from_dict(hub_config(name_or_path), f"{name_or_path}/config.json", name=name_or_path,
                                  source=f"config.json of {name_or_path} from the Hub")
        except ConfigError:
            raise
        except Exception as exc:  # noqa: BLE001 - offline, gated, missing, no network: fall back to the table
            hub_error = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}".rstrip(": ")
    known = _from_table(name_or_path)
    why = f" (the Hub's config.json could not be read: {hub_error})" if hub_error else ""
    if known is not None:
        return known.model_copy(update={"source": f"prefjudge's table entry {known.name!r}{why}"})
    raise ConfigError(f"unknown model {name_or_path!r} for the memory estimate: not a local directory, "
                      f"no config.json from the Hub{why}, and not in the table ({', '.join(sorted(KNOWN))}); "
                      "give its dimensions (prefjudge train memory --hidden-size H --layers L "
                      "--intermediate-size I | --params N [--heads --kv-heads --head-dim --vocab-size])")


DEFAULT_HEAD_DIM = 128
DEFAULT_VOCAB = 32000


def dims_with_overrides(base: ModelDims | None, name: str, *, hidden_size: int | None = None,
                        num_layers: int | None = None, intermediate_size: int | None = None,
                        num_heads: int | None = None, num_kv_heads: int | None = None,
                        head_dim: int | None = None, vocab_size: int | None = None,
                        tie_word_embeddings: bool | None = None, params: float | None = None) -> ModelDims:
    """``base`` (or nothing) with the given dimensions replaced: the CLI's ``--hidden-size`` etc.

    Without a base, ``hidden_size`` and ``num_layers`` are needed, and ``intermediate_size`` or
    ``params`` (the total parameter count, from which the MLP width is solved); ``num_heads``
    defaults to ``hidden_size / 128``, ``num_kv_heads`` to ``num_heads``, ``vocab_size`` to 32000
    (each default is named in ``source``).

    >>> d = dims_with_overrides(None, "m", hidden_size=4096, num_layers=32, params=7241732096, num_kv_heads=8)
    >>> d.intermediate_size, round(d.n_params / 1e9, 2)
    (14336, 7.24)
    """
    if params is not None and intermediate_size is not None:
        raise ConfigError("give the total parameter count or the intermediate size, not both")
    given = {k: v for k, v in dict(hidden_size=hidden_size, num_layers=num_layers, intermediate_size=intermediate_size,
                                   num_heads=num_heads, num_kv_heads=num_kv_heads, head_dim=head_dim,
                                   vocab_size=vocab_size, tie_word_embeddings=tie_word_embeddings).items()
             if v is not None}
    if not given and params is None:
        if base is None:
            raise ConfigError(f"no dimensions for {name!r}")
        return base
    defaults: list[str] = []
    values = base.model_dump(exclude={"source"}) if base is not None else {"name": name}
    values.update(given)
    missing = [k for k in ("hidden_size", "num_layers") if k not in values]
    if missing:
        raise ConfigError(f"model {name!r} is not known: give {' and '.join('--' + k.replace('num_', '').replace('_', '-') for k in missing)}")
    h = values["hidden_size"]
    if "num_heads" not in values:
        values["num_heads"] = max(1, h // DEFAULT_HEAD_DIM)
        defaults.append(f"heads {values['num_heads']} (hidden/{DEFAULT_HEAD_DIM})")
    if "num_kv_heads" not in values:
        values["num_kv_heads"] = values["num_heads"]
        defaults.append("kv heads = heads")
    if "vocab_size" not in values:
        values["vocab_size"] = DEFAULT_VOCAB
        defaults.append(f"vocab {DEFAULT_VOCAB}")
    if params is not None:
        values["intermediate_size"] = 1  # solved below
        probe = ModelDims(**values)
        attention = probe.linear_params - probe.num_layers * 3 * h  # the projections without the MLP
        rest = probe.embedding_params + (2 * probe.num_layers + 1) * h
        width = (params - rest - attention) / (3 * h * probe.num_layers)
        if width < 1:
            raise ConfigError(f"--params {params:.3g} is smaller than the attention and embedding weights alone "
                              f"({(rest + attention) / 1e9:.2f}B) of these dimensions")
        values["intermediate_size"] = int(round(width))
        defaults.append(f"intermediate size {values['intermediate_size']} solved from {params:.4g} parameters")
    if "intermediate_size" not in values:
        raise ConfigError(f"model {name!r} is not known: give --intermediate-size or --params")
    source = "command line" + (f" over {base.source or base.name}" if base is not None else "")
    if defaults:
        source += "; assumed " + ", ".join(defaults)
    values["source"] = source
    return ModelDims(**values)
