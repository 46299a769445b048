"""Chat templates used by the recipes, as Jinja strings (no heavy imports).

``CHAT_TEMPLATES`` maps a name to ``(jinja_template, eos_token)``:

- ``chatml``: ``<|im_start|>role\\n...<|im_end|>\\n`` (OpenHermes / NeuralHermes, Qwen2.5).
- ``zephyr``: ``<|user|>\\n...</s>\\n<|assistant|>\\n`` (TinyLlama chat, Zephyr).
- ``alpaca``: ``### Instruction:`` / ``### Response:`` blocks (LLM Twin).

>>> render_prompt("chatml", [{"role": "user", "content": "Hi"}])
'<|im_start|>user\\nHi<|im_end|>\\n<|im_start|>assistant\\n'
>>> render_prompt("zephyr", [{"role": "system", "content": "S"}, {"role": "user", "content": "Q"}])
'<|system|>\\nS</s>\\n<|user|>\\nQ</s>\\n<|assistant|>\\n'
>>> eos_token("tinyllama")
'</s>'

In the standard (string) format TRL 1.16 appends the tokenizer's eos token to ``chosen`` and
``rejected`` unless they already end with it, so the mapping functions leave answers bare (the
original tutorials' trailing ``"\\n"`` after ``<|im_end|>`` would otherwise give a doubled eos).
"""

from __future__ import annotations

from prefjudge.errors import ConfigError

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
    "alpaca": (ALPACA, "</s>"),
}
# aliases users may write in a config
ALIASES = {"tinyllama": "zephyr", "openhermes": "chatml", "qwen": "chatml"}


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


def render_prompt(name: str, messages: list[dict[str, str]], add_generation_prompt: bool = True) -> str:
    """Render ``messages`` with the named template, without a tokenizer (pure Jinja)."""
    import jinja2

    template, eos = CHAT_TEMPLATES[template_name(name)]
    env = jinja2.Environment(autoescape=False)
    return env.from_string(template).render(
        messages=messages, add_generation_prompt=add_generation_prompt, eos_token=eos
    )
