"""TRL 1.16 preference formats, from the working table.

- ``"conversational"``: ``prompt`` is a list of ``{"role", "content"}`` messages (system first when
  the pair has one), ``chosen`` and ``rejected`` are one-message lists ``[{"role": "assistant", ...}]``.
  TRL applies the tokenizer's own chat template at training time.
- ``"standard"``: strings. Without a chat template, ``prompt`` is the prompt text and a ``system``
  column is kept when any row has one. With ``chat_template`` (a tokenizer, a Jinja string, or a
  built-in name: ``chatml``, ``zephyr``, ``alpaca``), ``prompt`` is the rendered conversation with
  the generation prompt and ``chosen``/``rejected`` are the rendered answer turns (for ChatML
  ``"answer<|im_end|>"``), cut the way TRL cuts them (common prefix of prompt and prompt+answer),
  trailing whitespace removed so TRL does not append a second end-of-turn token.

>>> render_standard([{"role": "user", "content": "Hi"}], "Hello", "Go away", renderer("chatml"))
('<|im_start|>user\\nHi<|im_end|>\\n<|im_start|>assistant\\n', 'Hello<|im_end|>', 'Go away<|im_end|>')
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal

from prefjudge.content import prompt_text
from prefjudge.errors import InputError

if TYPE_CHECKING:
    import pandas as pd

Format = Literal["standard", "conversational"]
Renderer = Callable[[list[dict[str, str]], bool], str]


def prompt_messages(prompt: str | list[dict[str, str]], system: str | None) -> list[dict[str, str]]:
    """The prompt as chat messages, with the system message first when there is one."""
    msgs = [{"role": "user", "content": prompt}] if isinstance(prompt, str) else [dict(m) for m in prompt]
    if system and msgs[0]["role"] != "system":
        msgs.insert(0, {"role": "system", "content": system})
    return msgs


def renderer(chat_template: Any) -> Renderer:
    """A function ``(messages, add_generation_prompt) -> str`` for a tokenizer, Jinja string or template name."""
    if hasattr(chat_template, "apply_chat_template"):
        return lambda msgs, gen: chat_template.apply_chat_template(msgs, tokenize=False, add_generation_prompt=gen)
    if isinstance(chat_template, str) and "{%" not in chat_template and "{{" not in chat_template:
        from prefjudge.formatting.chat_templates import render_prompt, template_name

        name = template_name(chat_template)
        return lambda msgs, gen: render_prompt(name, msgs, add_generation_prompt=gen)
    if isinstance(chat_template, str):
        return _jinja_renderer(chat_template)
    raise InputError(f"chat_template must be a tokenizer, a Jinja template or a template name, not {type(chat_template).__name__}",
                     field="chat_template")


def _jinja_renderer(source: str) -> Renderer:
    from jinja2.exceptions import TemplateError
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    def raise_exception(message: str) -> None:
        raise TemplateError(message)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
    env.globals["raise_exception"] = raise_exception
    try:
        template = env.from_string(source)
    except TemplateError as e:
        raise InputError(f"chat template does not compile: {e}", field="chat_template") from e
    return lambda msgs, gen: template.render(messages=msgs, add_generation_prompt=gen, bos_token="", eos_token="")


def render_standard(msgs: list[dict[str, str]], chosen: str, rejected: str, render: Renderer) -> tuple[str, str, str]:
    """(prompt, chosen, rejected) strings rendered with a chat template, split like TRL splits them."""
    prompt = render(msgs, True)
    full_c = render(msgs + [{"role": "assistant", "content": chosen}], False)
    full_r = render(msgs + [{"role": "assistant", "content": rejected}], False)
    cut = min(_common_prefix(prompt, full_c), _common_prefix(prompt, full_r))
    return prompt[:cut], full_c[cut:].rstrip(), full_r[cut:].rstrip()


def _common_prefix(a: str, b: str) -> int:
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


def format_rows(df: pd.DataFrame, format: Format = "standard", chat_template: Any = None) -> dict[str, list]:
    """The prompt/chosen/rejected columns (and ``system`` when kept) in the requested TRL format."""
    if format not in ("standard", "conversational"):
        raise InputError(f"format must be 'standard' or 'conversational', not {format!r}", field="format")
    if format == "conversational" and chat_template is not None:
        raise InputError("chat_template applies to format='standard'; in the conversational format TRL applies "
                         "the tokenizer's own chat template when it trains", field="chat_template")
    recs = df.to_dict("records")
    if format == "conversational":
        return {
            "prompt": [prompt_messages(r["prompt"], r["system"]) for r in recs],
            "chosen": [[{"role": "assistant", "content": r["chosen"]}] for r in recs],
            "rejected": [[{"role": "assistant", "content": r["rejected"]}] for r in recs],
        }
    if chat_template is None:
        cols = {"prompt": [prompt_text(r["prompt"]) for r in recs], "chosen": [r["chosen"] for r in recs],
                "rejected": [r["rejected"] for r in recs]}
        if any(r["system"] for r in recs):
            cols["system"] = [r["system"] for r in recs]
        return cols
    render = renderer(chat_template)
    out = [render_standard(prompt_messages(r["prompt"], r["system"]), r["chosen"], r["rejected"], render) for r in recs]
    return {"prompt": [o[0] for o in out], "chosen": [o[1] for o in out], "rejected": [o[2] for o in out]}
