"""Build a tiny causal LM and a BPE tokenizer locally, for tests, smoke runs and benchmarks.

Nothing is downloaded: the tokenizer is trained with ``tokenizers`` on a small built-in corpus
and the model is randomly initialised. The result is saved with ``save_pretrained`` so that
``AutoModelForCausalLM.from_pretrained(path)`` and ``AutoTokenizer.from_pretrained(path)``
work offline.

Example::

    from prefjudge.train.tiny_model import build_tiny_model
    path = build_tiny_model("/tmp/tiny")                 # ~185k parameters, ChatML template
    bench = build_tiny_model("/tmp/bench", size="bench")  # ~27M parameters

Building twice into the same directory with the same arguments returns at once (the arguments
are recorded in ``prefjudge_tiny_model.json``).
"""

from __future__ import annotations

import json
import os
import random
import shutil
import tempfile
from pathlib import Path

from prefjudge.errors import InputError
from prefjudge.formatting.chat_templates import CHAT_TEMPLATES, template_name

MARKER = "prefjudge_tiny_model.json"
BUILDER_VERSION = 1
ARCHS = ("llama", "mistral", "qwen2")
SPECIAL_TOKENS = [
    "<|pad|>", "<unk>", "<s>", "</s>", "<|im_start|>", "<|im_end|>",
    "<|system|>", "<|user|>", "<|assistant|>",
]
# size presets: hidden, layers, heads, kv heads, intermediate
SIZES: dict[str, dict[str, int]] = {
    "tiny": dict(hidden_size=64, num_layers=2, num_heads=4, num_kv_heads=4, intermediate_size=128),
    "bench": dict(hidden_size=512, num_layers=8, num_heads=8, num_kv_heads=8, intermediate_size=1536),
}

_SUBJECTS = ["the model", "a judge", "the answer", "this response", "the assistant", "my friend",
             "the teacher", "a student", "the dataset", "our team", "the cat", "a robot",
             "the river", "the city", "an engineer", "the weather", "the reviewer", "a poem"]
_VERBS = ["explains", "prefers", "writes", "reads", "compares", "builds", "chooses", "describes",
          "answers", "improves", "checks", "ranks", "learns", "helps", "follows", "summarizes"]
_OBJECTS = ["the question", "a short story", "the code", "two responses", "the data", "a recipe",
            "the result", "a clear plan", "the history of science", "simple math", "the weather",
            "a good summary", "the instructions", "the training loss", "a list of facts"]
_ENDINGS = ["carefully.", "quickly.", "with care.", "in detail.", "step by step.", "today.",
            "again!", "for everyone.", "very well.", "without errors.", "?", "."]
_JUDGE_LINES = [
    "Which response is better? Answer with A or B.", "Answer: A", "Answer: B",
    "Response A is better.", "Response B is better.", "Output (A)", "Output (B)",
    "I prefer A.", "I prefer B.", "The winner is A.", "The winner is B.", "[[A]]", "[[B]]",
    "A", "B", "tie", "Explain your reasoning, then give the verdict.",
]
_CHAT_LINES = [
    "user", "assistant", "system", "### Instruction:", "### Response:", "Hello!", "Hi there.",
    "Below is an instruction that describes a task. "
    "Write a response that appropriately completes the request.",
    "You are a helpful assistant.", "Question:", "Answer:",
]


def _corpus(n_sentences: int = 4000) -> list[str]:
    """A fixed synthetic English corpus (seeded; independent of the model seed)."""
    rng = random.Random(1234)
    lines = []
    for i in range(n_sentences):
        s = f"{rng.choice(_SUBJECTS)} {rng.choice(_VERBS)} {rng.choice(_OBJECTS)} {rng.choice(_ENDINGS)}"
        lines.append(s[0].upper() + s[1:])
        if i % 4 == 0:
            lines.append(rng.choice(_JUDGE_LINES))
        if i % 5 == 0:
            lines.append(rng.choice(_CHAT_LINES))
        if i % 9 == 0:
            lines.append(f"{rng.randint(0, 999)} plus {rng.randint(0, 99)} is a number, {i % 10}.")
    return lines


def _train_tokenizer(vocab_size: int):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE(unk_token=None))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(_corpus(), trainer=trainer)
    return tok


def _wrap_tokenizer(tok, chat_template: str):
    from transformers import PreTrainedTokenizerFast

    template, eos = CHAT_TEMPLATES[template_name(chat_template)]
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token=eos,
        pad_token="<|pad|>",
        unk_token="<unk>",
        chat_template=template,
        padding_side="left",
        model_max_length=2048,
    )


def _model_config(arch: str, vocab: int, dims: dict[str, int], tokenizer):
    import transformers

    cls = {"llama": transformers.LlamaConfig, "mistral": transformers.MistralConfig,
           "qwen2": transformers.Qwen2Config}[arch]
    return cls(
        vocab_size=vocab,
        hidden_size=dims["hidden_size"],
        intermediate_size=dims["intermediate_size"],
        num_hidden_layers=dims["num_layers"],
        num_attention_heads=dims["num_heads"],
        num_key_value_heads=dims["num_kv_heads"],
        max_position_embeddings=2048,
        tie_word_embeddings=False,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        bos_token_id=None,
    )


def _dims(size, hidden_size, num_layers, num_heads, num_kv_heads, intermediate_size) -> dict[str, int]:
    if size not in SIZES:
        raise InputError(f"unknown size {size!r}; known: {', '.join(SIZES)}", field="size")
    dims = dict(SIZES[size])
    given = dict(hidden_size=hidden_size, num_layers=num_layers, num_heads=num_heads,
                 num_kv_heads=num_kv_heads, intermediate_size=intermediate_size)
    dims.update({k: v for k, v in given.items() if v is not None})
    if "num_kv_heads" not in {k for k, v in given.items() if v is not None} and num_heads is not None:
        dims["num_kv_heads"] = dims["num_heads"]
    if dims["hidden_size"] % dims["num_heads"] or dims["num_heads"] % dims["num_kv_heads"]:
        raise InputError("hidden_size must divide by num_heads, and num_heads by num_kv_heads",
                         field="num_heads")
    if intermediate_size is None and hidden_size is not None:
        dims["intermediate_size"] = 2 * dims["hidden_size"] if size == "tiny" else 3 * dims["hidden_size"]
    return dims


def _write(out: Path, arch: str, dims: dict[str, int], vocab_size: int, chat_template: str,
           seed: int, spec: dict) -> None:
    import torch
    import transformers

    transformers.utils.logging.disable_progress_bar()
    tokenizer = _wrap_tokenizer(_train_tokenizer(vocab_size), chat_template)
    torch.manual_seed(seed)
    config = _model_config(arch, len(tokenizer), dims, tokenizer)
    model = transformers.AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    spec["n_parameters"] = sum(p.numel() for p in model.parameters())
    spec["actual_vocab_size"] = len(tokenizer)
    (out / MARKER).write_text(json.dumps(spec, indent=2))


def _cached(path: Path, spec: dict) -> bool:
    marker = path / MARKER
    if not marker.exists():
        if path.exists() and any(path.iterdir()):
            raise InputError(f"{path} exists, is not empty and was not built by build_tiny_model",
                             field="path")
        return False
    recorded = json.loads(marker.read_text())
    return {k: recorded.get(k) for k in spec} == spec


def build_tiny_model(
    path: str | os.PathLike,
    *,
    arch: str = "llama",
    size: str = "tiny",
    hidden_size: int | None = None,
    num_layers: int | None = None,
    num_heads: int | None = None,
    num_kv_heads: int | None = None,
    intermediate_size: int | None = None,
    vocab_size: int = 800,
    chat_template: str = "chatml",
    seed: int = 0,
) -> Path:
    """Build (or reuse) a tiny causal LM + BPE tokenizer in ``path`` and return the path.

    ``size`` picks a preset (``"tiny"``: hidden 64, 2 layers, 4 heads, ~185k parameters;
    ``"bench"``: hidden 512, 8 layers, ~27M parameters); the other dimension arguments override
    it. ``chat_template`` is ``chatml``, ``zephyr`` (alias ``tinyllama``) or ``alpaca``; it also
    decides the eos token (``<|im_end|>`` or ``</s>``). "A" and "B" are single tokens.
    """
    if arch not in ARCHS:
        raise InputError(f"unknown arch {arch!r}; known: {', '.join(ARCHS)}", field="arch")
    if not 300 <= vocab_size <= 32000:
        raise InputError("vocab_size must be between 300 and 32000", field="vocab_size")
    dims = _dims(size, hidden_size, num_layers, num_heads, num_kv_heads, intermediate_size)
    spec = dict(version=BUILDER_VERSION, arch=arch, vocab_size=vocab_size,
                chat_template=template_name(chat_template), seed=seed, **dims)
    path = Path(path)
    if _cached(path, spec):
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        _write(tmp, arch, dims, vocab_size, chat_template, seed, spec)
        if path.exists():
            shutil.rmtree(path)  # only reached when it holds our marker with other arguments
        os.replace(tmp, path)
    except OSError:
        if _cached(path, spec):  # another process finished the same build first
            return path
        raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return path
