"""A prompt's plain text, its system prompt, and content hashes: the one copy for judging and curation.

A prompt is a string or a list of chat messages (dicts or :class:`prefjudge.types.Message`). Its
system prompt is kept apart from its text: the judge shows it once, as the template's
``{{system_block}}``, and curation keeps it in its own ``system`` column.

>>> chat = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "2+2?"}]
>>> prompt_text(chat), system_text(chat, None)
('2+2?', 'Be brief.')
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any


def _role_content(message: Any) -> tuple[str, str]:
    if isinstance(message, Mapping):
        return message["role"], message["content"]
    return message.role, message.content


def prompt_text(prompt: str | Sequence[Any]) -> str:
    """The prompt as plain text without its system messages: the string itself, a lone turn's
    content, or ``Role: text`` turns.

    >>> prompt_text("Hi")
    'Hi'
    >>> prompt_text([{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}, {"role": "user", "content": "Bye"}])
    'User: Hi\\n\\nAssistant: Hello\\n\\nUser: Bye'
    """
    if isinstance(prompt, str):
        return prompt
    turns = [rc for rc in map(_role_content, prompt) if rc[0] != "system"]
    if len(turns) == 1:
        return turns[0][1]
    return "\n\n".join(f"{role.capitalize()}: {content}" for role, content in turns)


def system_text(prompt: str | Sequence[Any], system: str | None) -> str | None:
    """The system prompt: ``system`` and the prompt's system messages (each text once), or None.

    >>> system_text([{"role": "system", "content": "S"}, {"role": "user", "content": "Q"}], "S")
    'S'
    >>> system_text("Q", None) is None
    True
    """
    parts = [system] if system else []
    if not isinstance(prompt, str):
        parts += [c for r, c in map(_role_content, prompt) if r == "system" and c and c not in parts]
    return "\n\n".join(parts) or None


def content_id(*parts: Any, canonical: bool = True) -> str:
    """A short stable hash (16 hex digits of SHA-256) of JSON-serialisable parts: a default row id.

    ``canonical`` (curation's row and prompt ids) hashes JSON with sorted keys and text as is;
    ``canonical=False`` hashes JSON with keys in their order and non-ASCII escaped, the encoding
    of ``rank_pairs``' default pair ids, kept because a pair id seeds its display orders (and so
    the stored requests): changing it would change every rerun's calls.

    >>> content_id("2+2?", "4", "5")
    '1858efc0c7c9221b'
    >>> content_id("2+2?", "4", "5", None, canonical=False)
    '4f0f5898d3850194'
    """
    blob = json.dumps(parts, sort_keys=canonical, ensure_ascii=not canonical, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]
