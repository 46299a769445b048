"""The backend interface."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from prefjudge.types import Completion

if TYPE_CHECKING:
    from prefjudge.backends.endpoint import Endpoint


class CallParams(BaseModel):
    """Sampling parameters of one call. Part of the request hash."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    temperature: float = 0.0
    max_tokens: int = 1024
    logprobs: bool = False
    top_logprobs: int | None = None
    response_format: dict[str, Any] | None = None
    logprob_tokens: list[str] = Field(default_factory=list)
    """Tokens whose logprobs to report even outside the top k, where the backend can (local models)."""
    n_index: int | None = None
    """Which of several samples for the same messages this is (generation with n > 1)."""
    extra: dict[str, Any] = Field(default_factory=dict)


class Backend(ABC):
    """Messages in, completion out. Built from an :class:`~prefjudge.backends.endpoint.Endpoint`
    (model, URL, key source, timeout, request options); it never sees a judge, a pair or a verdict."""

    def __init__(self, endpoint: Endpoint):
        self.endpoint = endpoint

    @abstractmethod
    async def complete(self, messages: list[dict], params: CallParams) -> Completion:
        """One completion; raise Transient/PermanentBackendError on failure."""

    async def aclose(self) -> None:  # noqa: B027 - optional hook
        """Release connections or models."""
