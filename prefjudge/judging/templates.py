"""Judge prompt templates: text files selected by name (built-ins) or by path.

A template file has ``# key: value`` header lines, then ``=== system ===`` and ``=== user ===``
sections. ``# kind:`` is ``pairwise`` (the default) or ``rating``.

Pairwise placeholders are ``{{question}}``, ``{{answer_a}}`` (the answer shown first),
``{{answer_b}}`` (shown second), ``{{system}}`` and ``{{system_block}}`` (the pair's system prompt
wrapped as a labelled block, or nothing).

Rating templates (one answer per call, :func:`prefjudge.curate.rating.rate`) use ``{{question}}``,
``{{answer}}``, ``{{reference}}`` (a reference answer), ``{{reference_block}}`` (the reference
wrapped as a labelled block, or nothing), ``{{rubric}}``, ``{{system}}`` and ``{{system_block}}``;
their header says ``# scale: 1-10`` (the score's range), optionally ``# aspects: a, b, c`` (one
score per aspect; the call's score is their mean) and ``# marker: brackets`` (``[[7]]``, the
default) or ``# marker: result`` (``[RESULT] 4``, Prometheus).

Substitution is one pass over the template, so text inside an answer is never expanded as a
placeholder.
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
TemplateKind = Literal["pairwise", "rating"]
ScoreMarker = Literal["brackets", "result"]
_PLACEHOLDER = re.compile(r"\{\{(question|answer_a|answer_b|system|system_block)\}\}")
_RATING_PLACEHOLDER = re.compile(r"\{\{(question|answer|reference|reference_block|rubric|system|system_block)\}\}")
_SCALE = re.compile(r"(-?\d+(?:\.\d+)?)[ \t]*(?:-|to|\.\.)[ \t]*(-?\d+(?:\.\d+)?)")
_ASPECT = re.compile(r"[a-z][a-z0-9_]*")
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
    kind: TemplateKind = "pairwise"
    scale: tuple[float, float] | None = None
    """Rating templates: the lowest and highest score (``# scale: 1-10``)."""
    aspects: tuple[str, ...] = ()
    """Rating templates: the aspects rated one by one (``# aspects: helpfulness, honesty``)."""
    marker: ScoreMarker = "brackets"
    """Rating templates: how the judge writes a score: ``[[7]]`` (brackets) or ``[RESULT] 7`` (result)."""

    @functools.cached_property
    def sha256(self) -> str:
        """Hash of the template text: recorded as provenance and part of every request hash."""
        return hashlib.sha256(self.text.encode()).hexdigest()[:16]

    def uses(self, placeholder: str) -> bool:
        """Whether ``{{placeholder}}`` appears in the template's sections."""
        return "{{" + placeholder + "}}" in self.system + self.user

    def render(self, *, question: str, first: str, second: str, system: str | None) -> list[dict]:
        """Chat messages for one call, with ``first`` shown as assistant A."""
        if self.kind != "pairwise":
            raise ConfigError(f"template {self.name!r} is a {self.kind} template (one answer per call): "
                              "use it with prefjudge.rate, not to compare pairs")
        values = {
            "question": question,
            "answer_a": first,
            "answer_b": second,
            "system": system or "",
            "system_block": f"[System Prompt]\n{system}\n\n" if system else "",
        }

        def fill(section: str) -> str:
            return _PLACEHOLDER.sub(lambda m: values[m.group(1)], section)

        return self._messages(fill)

    def render_rating(self, *, question: str, answer: str, system: str | None, reference: str | None = None,
                      rubric: str | None = None) -> list[dict]:
        """Chat messages for one rating call of ``answer`` (a rating template only)."""
        if self.kind != "rating":
            raise ConfigError(f"template {self.name!r} compares pairs; a rating needs a rating template "
                              "(# kind: rating), e.g. 'single', 'ultrafeedback' or 'rubric'")
        values = {
            "question": question,
            "answer": answer,
            "reference": reference or "",
            "reference_block": (f"[The Start of Reference Answer]\n{reference}\n[The End of Reference Answer]\n\n"
                                if reference else ""),
            "rubric": rubric or "",
            "system": system or "",
            "system_block": f"[System Prompt]\n{system}\n\n" if system else "",
        }

        def fill(section: str) -> str:
            return _RATING_PLACEHOLDER.sub(lambda m: values[m.group(1)], section)

        return self._messages(fill)

    def _messages(self, fill) -> list[dict]:
        messages = []
        if self.system.strip():
            messages.append({"role": "system", "content": fill(self.system)})
        messages.append({"role": "user", "content": fill(self.user)})
        return messages


def _scale(value: str, name: str) -> tuple[float, float]:
    m = _SCALE.fullmatch(value.strip())
    if m is None or float(m.group(1)) >= float(m.group(2)):
        raise ConfigError(f"template {name!r}: scale must be 'low-high' with low < high (e.g. 1-10), not {value!r}")
    return float(m.group(1)), float(m.group(2))


def _aspects(value: str, name: str) -> tuple[str, ...]:
    names = tuple(a.strip().lower().replace(" ", "_").replace("-", "_") for a in value.split(",") if a.strip())
    bad = [a for a in names if not _ASPECT.fullmatch(a)]
    if bad or len(set(names)) != len(names):
        raise ConfigError(f"template {name!r}: aspects must be distinct names of letters, digits and _ "
                          f"separated by commas, not {value!r}")
    return names


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
    kind = header.get("kind", "pairwise")
    if kind not in ("pairwise", "rating"):
        raise ConfigError(f"template {name!r}: kind must be pairwise or rating, not {kind!r}")
    parts = _SECTION.split(text)
    sections = dict(zip(parts[1::2], (p.strip("\n") for p in parts[2::2])))
    if "user" not in sections:
        raise ConfigError(f"template {name!r} has no '=== user ===' section")
    if kind == "rating":
        return _rating_template(text, name, header, mode, sections)
    for needed in ("answer_a", "answer_b", "question"):
        if "{{" + needed + "}}" not in sections["user"] + sections.get("system", ""):
            raise ConfigError(f"template {name!r} lacks the placeholder {{{{{needed}}}}}")
    return Template(name=name, mode=mode, system=sections.get("system", ""), user=sections["user"], text=text)  # type: ignore[arg-type]


def _rating_template(text: str, name: str, header: dict[str, str], mode: str, sections: dict[str, str]) -> Template:
    if mode != "verdict":
        raise ConfigError(f"template {name!r}: a rating template is read as text (mode: verdict), not {mode!r}")
    for needed in ("answer", "question"):
        if "{{" + needed + "}}" not in sections["user"] + sections.get("system", ""):
            raise ConfigError(f"template {name!r} lacks the placeholder {{{{{needed}}}}}")
    if "scale" not in header:
        raise ConfigError(f"template {name!r}: a rating template needs a '# scale: low-high' header line")
    marker = header.get("marker", "brackets")
    if marker not in ("brackets", "result"):
        raise ConfigError(f"template {name!r}: marker must be brackets ([[7]]) or result ([RESULT] 7), not {marker!r}")
    aspects = _aspects(header["aspects"], name) if header.get("aspects") else ()
    if aspects and marker != "brackets":
        raise ConfigError(f"template {name!r}: aspects are written as 'Aspect: [[N]]' (marker: brackets)")
    return Template(name=name, mode="verdict", system=sections.get("system", ""), user=sections["user"], text=text,
                    kind="rating", scale=_scale(header["scale"], name), aspects=aspects, marker=marker)  # type: ignore[arg-type]


def builtin_templates() -> list[str]:
    return sorted(p.name[:-4] for p in resources.files("prefjudge.judging.prompts").iterdir() if p.name.endswith(".txt"))


def load_template(name_or_path: str) -> Template:
    """A built-in template by name (``pairwise``, ``pairwise_json``, ``pairwise_logprob``; rating templates
    ``single``, ``single_ref``, ``ultrafeedback``, ``rubric``) or a file path.

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
