"""Judge prompt templates: text files selected by name (built-ins) or by path.

A template file has ``# key: value`` header lines, then ``=== system ===`` and ``=== user ===``
sections. Placeholders are ``{{question}}``, ``{{answer_a}}`` (the answer shown first),
``{{answer_b}}`` (shown second), ``{{system}}`` and ``{{system_block}}`` (the pair's system prompt
wrapped as a labelled block, or nothing). Substitution is one pass over the template, so text
inside an answer is never expanded as a placeholder.
"""

from __future__ import annotations

import functools
import hashlib
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Literal

from prefjudge.errors import ConfigError

TemplateMode = Literal["verdict", "json", "logprob"]
_PLACEHOLDER = re.compile(r"\{\{(question|answer_a|answer_b|system|system_block)\}\}")
_SECTION = re.compile(r"^=== (system|user) ===[ \t]*$", re.M)

#: JSON schema the ``json`` mode asks backends to follow (structured output).
VERDICT_JSON_SCHEMA: dict = {
    "type": "object",
    "properties": {
        "comparison": {"type": "string"},
        "verdict": {"type": "string", "enum": ["A", "B", "tie"]},
    },
    "required": ["comparison", "verdict"],
    "additionalProperties": False,
}


@dataclass(frozen=True)
class Template:
    name: str
    mode: TemplateMode
    system: str
    user: str
    text: str

    @functools.cached_property
    def sha256(self) -> str:
        """Hash of the template text: recorded as provenance and part of every request hash."""
        return hashlib.sha256(self.text.encode()).hexdigest()[:16]

    def render(self, *, question: str, first: str, second: str, system: str | None) -> list[dict]:
        """Chat messages for one call, with ``first`` shown as assistant A."""
        values = {
            "question": question,
            "answer_a": first,
            "answer_b": second,
            "system": system or "",
            "system_block": f"[System Prompt]\n{system}\n\n" if system else "",
        }

        def fill(section: str) -> str:
            return _PLACEHOLDER.sub(lambda m: values[m.group(1)], section)

        messages = []
        if self.system.strip():
            messages.append({"role": "system", "content": fill(self.system)})
        messages.append({"role": "user", "content": fill(self.user)})
        return messages


def parse_template(text: str, name: str) -> Template:
    header: dict[str, str] = {}
    for line in text.splitlines():
        if line.startswith("#"):
            key, _, value = line[1:].partition(":")
            header[key.strip().lower()] = value.strip()
        elif line.strip():
            break
    mode = header.get("mode", "verdict")
    if mode not in ("verdict", "json", "logprob"):
        raise ConfigError(f"template {name!r}: mode must be verdict, json or logprob, not {mode!r}")
    parts = _SECTION.split(text)
    sections = dict(zip(parts[1::2], (p.strip("\n") for p in parts[2::2])))
    if "user" not in sections:
        raise ConfigError(f"template {name!r} has no '=== user ===' section")
    for needed in ("answer_a", "answer_b", "question"):
        if "{{" + needed + "}}" not in sections["user"] + sections.get("system", ""):
            raise ConfigError(f"template {name!r} lacks the placeholder {{{{{needed}}}}}")
    return Template(name=name, mode=mode, system=sections.get("system", ""), user=sections["user"], text=text)  # type: ignore[arg-type]


def builtin_templates() -> list[str]:
    return sorted(p.name[:-4] for p in resources.files("prefjudge.judging.prompts").iterdir() if p.name.endswith(".txt"))


def load_template(name_or_path: str) -> Template:
    """A built-in template by name (``pairwise``, ``pairwise_json``, ``pairwise_logprob``) or a file path.

    A file is cached by (path, modification time, size): an edited file is read again.
    """
    path = Path(name_or_path)
    if path.suffix == ".txt" or path.exists():
        try:
            st = path.stat()
        except OSError:
            st = None
        if st is None or not path.is_file():
            raise ConfigError(f"template file not found: {name_or_path}")
        return _load_file(str(path), st.st_mtime_ns, st.st_size)
    return _load_builtin(name_or_path)


@functools.lru_cache(maxsize=64)
def _load_file(path: str, mtime_ns: int, size: int) -> Template:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"template file {path} is not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
    except OSError as exc:
        raise ConfigError(f"template file {path} cannot be read: {exc}") from exc
    return parse_template(text, path)


@functools.lru_cache(maxsize=16)
def _load_builtin(name_or_path: str) -> Template:
    resource = resources.files("prefjudge.judging.prompts") / f"{name_or_path}.txt"
    if not resource.is_file():
        raise ConfigError(f"unknown template {name_or_path!r}; built-ins: {', '.join(builtin_templates())}")
    return parse_template(resource.read_text(encoding="utf-8"), name_or_path)
