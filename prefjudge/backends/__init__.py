"""Backends turn chat messages into a :class:`~prefjudge.types.Completion`. Nothing else.

They know nothing of pairs, display orders, verdicts, retries or caching: the engine owns those.
A backend raises :class:`~prefjudge.errors.TransientBackendError` for what is worth retrying
(429, 5xx, timeouts, dropped connections) and :class:`~prefjudge.errors.PermanentBackendError`
for the rest. New backends register under a name with :func:`register_backend` or through the
``prefjudge.backends`` entry-point group.
"""

from __future__ import annotations

import importlib
from importlib.metadata import entry_points
from typing import TYPE_CHECKING

from prefjudge.backends.base import Backend, CallParams
from prefjudge.errors import ConfigError

if TYPE_CHECKING:
    from prefjudge.backends.endpoint import Endpoint

__all__ = ["Backend", "CallParams", "register_backend", "available_backends", "backend_class", "create_backend"]

_REGISTRY: dict[str, str] = {
    "openai": "prefjudge.backends.openai_backend:OpenAIBackend",
    "litellm": "prefjudge.backends.litellm_backend:LiteLLMBackend",
    "transformers": "prefjudge.backends.transformers_backend:TransformersBackend",
}


def register_backend(name: str, target: str | type) -> None:
    """Register a backend class (or a ``"module:Class"`` path, imported on first use)."""
    _REGISTRY[name] = target  # type: ignore[assignment]


def available_backends() -> list[str]:
    names = set(_REGISTRY)
    names.update(ep.name for ep in entry_points(group="prefjudge.backends"))
    return sorted(names)


def backend_class(name: str) -> type:
    """The backend class registered under ``name`` (ConfigError listing the available ones if none)."""
    target = _REGISTRY.get(name)
    if target is None:
        for ep in entry_points(group="prefjudge.backends"):
            if ep.name == name:
                return ep.load()
        raise ConfigError(f"unknown backend {name!r}; available: {', '.join(available_backends())}")
    if isinstance(target, str):
        module, _, attr = target.partition(":")
        return getattr(importlib.import_module(module), attr)
    return target


def create_backend(endpoint: Endpoint) -> Backend:
    """A backend instance for an endpoint (its ``backend`` names the class)."""
    return backend_class(endpoint.backend)(endpoint)
