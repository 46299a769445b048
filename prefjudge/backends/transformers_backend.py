"""A local Hugging Face causal LM (a path or a cached id). torch and transformers load lazily.

Requests that arrive together are generated in one left-padded batch (up to ``batch_size``).
With ``logprobs`` the top alternatives of every generated token are returned, plus the logprobs
of ``CallParams.logprob_tokens`` (a local model can report any token, not only its top k).
``finish_reason`` is ``"stop"`` when the answer ended with an end-of-sequence token and
``"length"`` when it was cut at ``max_tokens``, as an API reports it.

:meth:`TransformersBackend.preflight` (run by ``Endpoint.preflight``, so before a run's first
call) refuses a model that cannot be loaded: a folder without a model config, tokenizer or weights,
or an id that is neither a folder nor a model in the Hub cache (or on the Hub when online), with a
``ConfigError`` naming the path.
"""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

from prefjudge.backends.base import Backend, CallParams
from prefjudge.backends.endpoint import Endpoint
from prefjudge.errors import ConfigError, PermanentBackendError
from prefjudge.types import Completion

WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin",
                "pytorch_model.bin.index.json", "adapter_model.safetensors")


def finish_reasons(sequences: list[list[int]], eos_ids: set[int], max_tokens: int) -> list[str]:
    """Per generated sequence (new tokens only, padding included): ``stop`` when an end-of-sequence
    token was generated, ``length`` when generation ran to ``max_tokens`` without one.

    >>> finish_reasons([[5, 6, 2, 0], [5, 6, 7, 8]], {2}, 4)
    ['stop', 'length']
    """
    out = []
    for seq in sequences:
        if any(t in eos_ids for t in seq):
            out.append("stop")
        else:
            out.append("length" if len(seq) >= max_tokens else "stop")
    return out


class TransformersBackend(Backend):
    batch_size = 8

    def __init__(self, endpoint: Endpoint):
        super().__init__(endpoint)
        self._queue: asyncio.Queue | None = None
        self._worker: asyncio.Task | None = None
        self._model = None
        self._tokenizer = None
        self._load_lock = threading.Lock()

    @classmethod
    def preflight(cls, endpoint: Endpoint) -> None:
        """Refuse, before any call, a model that cannot be loaded (ConfigError naming the path)."""
        check_loadable(endpoint.model, endpoint.label)

    def _load(self):
        with self._load_lock:
            if self._model is None:
                from transformers import AutoModelForCausalLM, AutoTokenizer

                try:
                    tok = AutoTokenizer.from_pretrained(self.endpoint.model)
                    model = AutoModelForCausalLM.from_pretrained(self.endpoint.model)
                except OSError as exc:
                    raise PermanentBackendError(f"cannot load local model {self.endpoint.model!r}: {exc}") from exc
                tok.padding_side = "left"
                if tok.pad_token is None:
                    tok.pad_token = tok.eos_token
                model.eval()
                self._model, self._tokenizer = model, tok
        return self._model, self._tokenizer

    async def complete(self, messages: list[dict], params: CallParams) -> Completion:
        if self._queue is None:
            self._queue = asyncio.Queue()
            self._worker = asyncio.get_running_loop().create_task(self._run())
        fut = asyncio.get_running_loop().create_future()
        await self._queue.put((messages, params, fut))
        return await fut

    async def _run(self) -> None:
        assert self._queue is not None
        while True:
            batch = [await self._queue.get()]
            await asyncio.sleep(0)  # let concurrent callers enqueue
            while len(batch) < self.batch_size and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            groups: dict[str, list] = {}
            for item in batch:
                groups.setdefault(item[1].model_dump_json(), []).append(item)
            for items in groups.values():
                try:
                    outs = await asyncio.to_thread(self._generate, [m for m, _, _ in items], items[0][1])
                except Exception as exc:  # delivered to each caller, never swallowed
                    err = exc if isinstance(exc, PermanentBackendError) else PermanentBackendError(f"{type(exc).__name__}: {exc}")
                    for _, _, fut in items:
                        if not fut.done():
                            fut.set_exception(err)
                    continue
                for (_, _, fut), out in zip(items, outs):
                    if not fut.done():
                        fut.set_result(out)

    def _generate(self, conversations: list[list[dict]], params: CallParams) -> list[Completion]:
        import torch

        model, tok = self._load()
        texts = [tok.apply_chat_template(c, tokenize=False, add_generation_prompt=True) for c in conversations]
        enc = tok(texts, return_tensors="pt", padding=True, add_special_tokens=False)
        sample = params.temperature > 0
        with torch.no_grad():
            out = model.generate(
                **enc, max_new_tokens=params.max_tokens, do_sample=sample,
                temperature=params.temperature if sample else None, top_p=None, top_k=None,
                pad_token_id=tok.pad_token_id, output_scores=params.logprobs, return_dict_in_generate=True,
            )
        new = out.sequences[:, enc["input_ids"].shape[1]:].tolist()
        reasons = finish_reasons(new, _eos_ids(model, tok), params.max_tokens)
        results = []
        for i, seq in enumerate(new):
            ids = [t for t in seq if t != tok.pad_token_id]
            top = self._top_logprobs(out.scores, i, params.top_logprobs or 5, tok, params.logprob_tokens) if params.logprobs else None
            results.append(Completion(
                text=tok.decode(ids, skip_special_tokens=True), top_logprobs=top,
                prompt_tokens=int(enc["attention_mask"][i].sum()), completion_tokens=len(ids),
                finish_reason=reasons[i],
            ))
        return results

    @staticmethod
    def _top_logprobs(scores, row: int, k: int, tok, wanted: list[str]) -> list[dict[str, float]]:
        """Top-k alternatives of each generated token, plus the ``wanted`` tokens' logprobs."""
        wanted_ids = {}
        for text in wanted:
            ids = tok.encode(text, add_special_tokens=False)
            if len(ids) == 1:
                wanted_ids[text] = ids[0]
        top = []
        for step in scores:
            lp = step[row].float().log_softmax(-1)
            vals, idx = lp.topk(k)
            entry = {tok.decode([int(j)]): float(v) for v, j in zip(vals, idx)}
            entry.update({text: float(lp[i]) for text, i in wanted_ids.items() if text not in entry})
            top.append(entry)
        return top

    async def aclose(self) -> None:
        if self._worker is not None:
            self._worker.cancel()


def _eos_ids(model, tok) -> set[int]:
    """Every token id that ends generation: the generation config's eos (an int or a list) and the tokenizer's."""
    ids: set[int] = set()
    for value in (getattr(getattr(model, "generation_config", None), "eos_token_id", None), tok.eos_token_id):
        if isinstance(value, int):
            ids.add(value)
        elif isinstance(value, (list, tuple)):
            ids.update(v for v in value if isinstance(v, int))
    return ids


def check_loadable(model: str, label: str | None = None) -> None:
    """Raise ``ConfigError`` naming ``model`` when it is not a loadable local causal LM: a folder needs
    ``config.json``, tokenizer files and weights; anything else must resolve through the Hub cache
    (or the Hub) to a model config and a tokenizer."""
    who = f"judge {label!r}: " if label and label != model else ""
    path = Path(model).expanduser()
    looks_local = path.exists() or model.startswith((".", "/", "~")) or model.count("/") > 1
    if looks_local:
        if not path.is_dir():
            raise ConfigError(f"{who}cannot load local model {model!r}: no such folder")
        missing = [name for name, ok in (
            ("config.json", (path / "config.json").is_file()),
            ("tokenizer files (tokenizer.json or tokenizer_config.json)",
             (path / "tokenizer.json").is_file() or (path / "tokenizer_config.json").is_file()),
            (f"weights ({', '.join(WEIGHT_FILES[:4])})", any((path / f).is_file() for f in WEIGHT_FILES)),
        ) if not ok]
        if missing:
            raise ConfigError(f"{who}cannot load local model {model!r}: the folder has no {'; no '.join(missing)}")
    try:
        from transformers import AutoConfig, AutoTokenizer

        AutoConfig.from_pretrained(model)
        AutoTokenizer.from_pretrained(model)
    except (OSError, ValueError, KeyError) as exc:
        raise ConfigError(f"{who}cannot load local model {model!r}: {type(exc).__name__}: {exc}") from None
