"""Answers from a local causal LM (a merged model folder, or a base model + adapter): greedy or
seeded sampling, batched, each prompt rendered by :func:`prefjudge.formatting.chat_templates.render_prompt` (a named
template, else the model's own) into the text a training row's ``prompt`` holds.

Models are loaded with the device and dtype policy of training and merging
(:func:`prefjudge.train.runtime.plan_inference`): bf16 (or 4-bit nf4) on a GPU, float32 on the CPU.
"""

from __future__ import annotations

import json
from pathlib import Path

from prefjudge.formatting.chat_templates import renderer
from prefjudge.formatting.trl import prompt_messages
from prefjudge.train.runtime import InferencePlan, current_inference_plan
from prefjudge.types import clean_model_text


def _load(model_path: str, plan: InferencePlan):
    """A causal LM from a merged model dir, or base + adapter when ``model_path`` is an adapter."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    adapter_cfg = Path(model_path) / "adapter_config.json"
    tok = AutoTokenizer.from_pretrained(model_path)
    if adapter_cfg.exists():
        from peft import PeftModel

        base = json.loads(adapter_cfg.read_text())["base_model_name_or_path"]
        model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(base, **plan.load_kwargs()), model_path)
    else:
        model = AutoModelForCausalLM.from_pretrained(model_path, **plan.load_kwargs())
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    tok.padding_side = "left"
    return model.eval(), tok


def generate_answers(model_path: str, prompts: list, *, max_new_tokens: int = 64, batch_size: int = 8,
                     chat_template: str | None = None, device: str = "auto", quantization: str = "none",
                     plan: InferencePlan | None = None, temperature: float = 0.0, seed: int = 0) -> list[str]:
    """Answers of a model (or base + adapter) to ``prompts`` (strings or message lists), in
    batches of ``batch_size``; loaded as ``plan`` says (default: :func:`current_inference_plan` of
    ``device`` and ``quantization``). ``temperature`` 0 is greedy; above 0 the answers are sampled
    with torch's generator seeded by ``seed`` and the batch's position, so two models answering the
    same prompts draw the same random numbers (common random numbers: a comparison of their samples
    varies less than with independent draws)."""
    import gc

    import torch

    plan = plan or current_inference_plan(device, quantization)
    model, tok = _load(model_path, plan)
    render = renderer(chat_template or None, tok)
    texts = [render(prompt_messages(p, None), True) for p in prompts]
    answers: list[str] = []
    for i in range(0, len(texts), batch_size):
        batch = tok(texts[i:i + batch_size], return_tensors="pt", padding=True, add_special_tokens=False)
        batch = batch.to(model.device)
        sampling = {"do_sample": False}
        if temperature > 0:
            torch.manual_seed(seed * 1_000_003 + i)
            sampling = {"do_sample": True, "temperature": temperature, "top_k": 0, "top_p": 1.0}
        with torch.no_grad():
            out = model.generate(**batch, max_new_tokens=max_new_tokens, pad_token_id=tok.pad_token_id,
                                 eos_token_id=tok.eos_token_id, **sampling)
        new = out[:, batch["input_ids"].shape[1]:]
        answers.extend(clean_model_text(t).strip() for t in tok.batch_decode(new, skip_special_tokens=True))
    del model
    gc.collect()
    if plan.device == "cuda":
        torch.cuda.empty_cache()  # the next model (the base, after the trained one) gets the memory
    return answers
