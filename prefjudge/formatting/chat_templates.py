"""Chat templates and the one chat renderer (messages -> text), for curation and training alike.

:func:`render_prompt` renders a chat with a named template, a Jinja template string, a
tokenizer's own template, or ``"none"`` (prompts already rendered: turns joined by a blank
line); :func:`renderer` resolves the template once and returns the render function. Nothing else
in prefjudge renders a chat for training data (``tests/test_one_formatter.py`` checks).

The built-in templates, as Jinja strings (no heavy imports).

``CHAT_TEMPLATES`` maps a name to ``(jinja_template, eos_token)``:

- ``chatml``: ``<|im_start|>role\\n...<|im_end|>\\n`` (OpenHermes / NeuralHermes, Qwen2.5).
- ``zephyr``: ``<|user|>\\n...</s>\\n<|assistant|>\\n`` (TinyLlama chat, Zephyr).
- ``zephyr_system`` (alias ``tinyllama_dpo``): ``zephyr`` with the system block always there, empty
  (``<|system|>\\n</s>\\n``) when the chat has no system message: seed 002's DPO prompts
  (``"<|system|>\\n" + system + "</s>\\n<|user|>\\n" + input + ...``), system prompt or not.
- ``alpaca``: ``### Instruction:`` / ``### Response:`` blocks (LLM Twin).

>>> render_prompt("chatml", [{"role": "user", "content": "Hi"}])
'<|im_start|>user\\nHi<|im_end|>\\n<|im_start|>assistant\\n'
>>> render_prompt("zephyr", [{"role": "system", "content": "S"}, {"role": "user", "content": "Q"}])
'<|system|>\\nS</s>\\n<|user|>\\nQ</s>\\n<|assistant|>\\n'
>>> render_prompt("zephyr_system", [{"role": "user", "content": "Q"}])
'<|system|>\\n</s>\\n<|user|>\\nQ</s>\\n<|assistant|>\\n'
>>> eos_token("tinyllama")
'</s>'
>>> render_prompt("none", [{"role": "system", "content": "S"}, {"role": "user", "content": "Q"}])
'S\\n\\nQ'

In the standard (string) format TRL 1.16 appends the tokenizer's eos token to ``chosen`` and
``rejected`` unless they already end with it; :func:`prefjudge.formatting.trl.format_rows` either
spells the template's end-of-turn token out (curated exports) or leaves it to TRL (training), and
never adds the original tutorials' trailing ``"\\n"`` after ``<|im_end|>`` (a doubled eos).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import Any

from prefjudge.errors import ConfigError, InputError

#: ``(messages, add_generation_prompt) -> text``
Render = Callable[[list[dict[str, str]], bool], str]
#: The template name for prompts that are already rendered (e.g. a curated export made with a template).
PRERENDERED = "none"

CHATML = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)

ZEPHYR = (
    "{% for message in messages %}"
    "{{ '<|' + message['role'] + '|>\\n' + message['content'] + '</s>' + '\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|assistant|>\\n' }}{% endif %}"
)

ZEPHYR_SYSTEM = "{% if not messages or messages[0]['role'] != 'system' %}{{ '<|system|>\\n</s>\\n' }}{% endif %}" + ZEPHYR

ALPACA_PREAMBLE = (
    "Below is an instruction that describes a task. "
    "Write a response that appropriately completes the request."
)

ALPACA = (
    "{% if messages and messages[0]['role'] == 'system' %}{{ messages[0]['content'] + '\\n\\n' }}"
    "{% else %}{{ '" + ALPACA_PREAMBLE + "\\n\\n' }}{% endif %}"
    "{% for message in messages %}"
    "{% if message['role'] == 'user' %}{{ '### Instruction:\\n' + message['content'] + '\\n\\n' }}"
    "{% elif message['role'] == 'assistant' %}{{ '### Response:\\n' + message['content'] + '</s>' }}"
    "{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}{{ '### Response:\\n' }}{% endif %}"
)

# name -> (jinja template, eos token that ends an assistant turn)
CHAT_TEMPLATES: dict[str, tuple[str, str]] = {
    "chatml": (CHATML, "<|im_end|>"),
    "zephyr": (ZEPHYR, "</s>"),
    "zephyr_system": (ZEPHYR_SYSTEM, "</s>"),
    "alpaca": (ALPACA, "</s>"),
}
# aliases users may write in a config
ALIASES = {"tinyllama": "zephyr", "openhermes": "chatml", "qwen": "chatml", "tinyllama_dpo": "zephyr_system"}


def template_name(name: str) -> str:
    """Resolve an alias (``tinyllama`` -> ``zephyr``) and check the name exists."""
    key = ALIASES.get(name.lower(), name.lower())
    if key not in CHAT_TEMPLATES:
        known = sorted([*CHAT_TEMPLATES, *ALIASES])
        raise ConfigError(f"unknown chat template {name!r}; known: {', '.join(known)}")
    return key


def eos_token(name: str) -> str:
    """The token that ends an assistant turn in the named template."""
    return CHAT_TEMPLATES[template_name(name)][1]


def render_prompt(template: Any, messages: list[dict[str, str]], add_generation_prompt: bool = True) -> str:
    """Render ``messages`` as text, with the generation prompt unless ``add_generation_prompt=False``.

    ``template``: a built-in name (``chatml``, ``zephyr``, ``alpaca`` or an alias), a Jinja
    template string, a tokenizer (its own ``chat_template``), or ``"none"`` (turns joined by a
    blank line, for prompts that are already rendered).
    """
    return renderer(template)(messages, add_generation_prompt)


def renderer(template: Any, tokenizer: Any = None) -> Render:
    """The render function of :func:`render_prompt` for ``template``; ``template=None`` uses ``tokenizer``'s."""
    if template is None:
        if tokenizer is None:
            raise ConfigError("field 'chat_template': needed to render the standard format without a tokenizer "
                              "(set it, or use the conversational format)")
        template = tokenizer
    if hasattr(template, "apply_chat_template"):
        tok = template
        return lambda msgs, gen: tok.apply_chat_template(msgs, tokenize=False, add_generation_prompt=gen)
    if not isinstance(template, str):
        raise InputError("chat_template must be a tokenizer, a Jinja template or a template name, "
                         f"not {type(template).__name__}", field="chat_template")
    if template == PRERENDERED:
        return lambda msgs, gen: "\n\n".join(m["content"] for m in msgs)
    if "{%" in template or "{{" in template:
        return _jinja(template, "")
    source, eos = CHAT_TEMPLATES[template_name(template)]
    return _jinja(source, eos)


@lru_cache(maxsize=32)
def _jinja(source: str, eos: str) -> Render:
    """A compiled template, in the sandboxed environment ``transformers`` renders chat templates in."""
    from jinja2.exceptions import TemplateError
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    def raise_exception(message: str) -> None:
        raise TemplateError(message)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
    env.globals["raise_exception"] = raise_exception
    try:
        compiled = env.from_string(source)
    except TemplateError as e:
        raise InputError(f"chat template does not compile: {e}", field="chat_template") from e
    return lambda msgs, gen: compiled.render(messages=msgs, add_generation_prompt=gen, bos_token="", eos_token=eos)
