"""Generator: a model that writes candidate answers (an endpoint plus sampling settings).

A generator is not a judge: it has no template, verdict mode or re-ask. It carries the same
transport fields as a judge (:class:`~prefjudge.backends.endpoint.EndpointSettings`), so a YAML
``generators:`` entry reads like a ``judges:`` entry.

>>> Generator("llama-3.1-8b-instruct", base_url="http://127.0.0.1:8000/v1").name
'llama-3.1-8b-instruct'
>>> Generator("gpt-4o-mini", temperature=0.8).endpoint.model
'gpt-4o-mini'
"""

from __future__ import annotations

import warnings
from typing import Any

from pydantic import Field

from prefjudge.backends.endpoint import TRANSPORT_FIELDS, NamedEndpointSettings
from prefjudge.errors import InputError


class Generator(NamedEndpointSettings):
    """One model that answers prompts for :func:`prefjudge.generate`."""

    temperature: float = Field(default=0.0, ge=0.0, allow_inf_nan=False)
    """Used when ``generate(temperature=...)`` is not given (one value, or one per sample)."""
    max_tokens: int = Field(default=1024, gt=0)

    def preflight(self) -> None:
        """An unknown backend or an unset ``api_key_env`` variable, before the first call."""
        self.endpoint.preflight()


def as_generators(value: Any, *, stacklevel: int = 3) -> list[Generator]:
    """Generators from one or a sequence; Judge objects (the old way) are converted with a
    DeprecationWarning pointing at the caller of the function that calls this one."""
    from prefjudge.judging.judge import Judge

    items = [value] if isinstance(value, (Generator, Judge)) else list(value or [])
    out = []
    for i, item in enumerate(items):
        if isinstance(item, Judge):
            warnings.warn("generators as prefjudge.Judge objects are deprecated; use prefjudge.Generator "
                          "(same fields, without the judging ones)", DeprecationWarning, stacklevel=stacklevel)
            fields = (*TRANSPORT_FIELDS, "family", "name", "temperature", "max_tokens")
            item = Generator(**{f: getattr(item, f) for f in fields})
        elif not isinstance(item, Generator):
            raise InputError(f"generators must be prefjudge.Generator objects, got {type(item).__name__}", row=i,
                             field="generators")
        out.append(item)
    return out
