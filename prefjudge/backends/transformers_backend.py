"""A local Hugging Face causal LM (a path or a cached id). torch and transformers load lazily.

Requests that arrive together are generated in one left-padded batch (up to ``batch_size``).
With ``logprobs`` the top alternatives of every generated token are returned, plus the logprobs
of ``CallParams.logprob_tokens`` (a local model can report any token, not only its top k).
"""

from __future__ import annotations

import asyncio
import threading

from prefjudge.backends.base import Backend, CallParams
from prefjudge.backends.endpoint import Endpoint
from prefjudge.errors import PermanentBackendError
from prefjudge.types import Completion


class TransformersBackend(Backend):
    batch_size = 8

    def __init__(self, endpoint: Endpoint):
        super().__init__(endpoint)
        self._queue: asyncio.Queue | None = None
        self._worker: asyncio.Task | None = None
        self._model = None
        self._tokenizer = None
        self._load_lock = threading.Lock()

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
        new = out.sequences[:, enc["input_ids"].shape[1]:]
        results = []
        for i, seq in enumerate(new):
            ids = [t for t in seq.tolist() if t != tok.pad_token_id]
            top = self._top_logprobs(out.scores, i, params.top_logprobs or 5, tok, params.logprob_tokens) if params.logprobs else None
            results.append(Completion(
                text=tok.decode(ids, skip_special_tokens=True), top_logprobs=top,
                prompt_tokens=int(enc["attention_mask"][i].sum()), completion_tokens=len(ids),
                finish_reason="stop",
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
