"""What every batch adapter shares: its interface, batch states, result lines, custom ids."""

from __future__ import annotations

import hashlib
import json
import re
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from prefjudge.backends.base import CallParams
from prefjudge.types import Completion

ProviderName = Literal["openai", "anthropic"]
PROVIDERS: tuple[str, ...] = ("openai", "anthropic")
_SAFE_ID = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")


@dataclass(frozen=True)
class BatchState:
    """What a poll saw: the provider's status word, and whether the results can be read now."""

    batch_id: str
    status: str
    ended: bool
    failed: str | None = None
    """The whole batch failed (OpenAI's ``failed``: the input did not validate): why."""
    counts: dict[str, int] = field(default_factory=dict)
    detail: dict[str, Any] = field(default_factory=dict)
    """What reading the results needs (output and error file ids) and is worth recording."""


@dataclass(frozen=True)
class ResultLine:
    """One line of a batch's results: a completion, a per-request error, a request the provider did
    not run (``missing``: expired, cancelled), or a line that could not be read (``problem``)."""

    custom_id: str | None = None
    completion: Completion | None = None
    error: str | None = None
    transient: bool = False
    """The error is worth another submission (rate limit, overload, server error)."""
    missing: str | None = None
    problem: str | None = None


def custom_id_for(key: str) -> str:
    """The custom_id of a request: its request hash when it fits every provider (at most 64 characters
    of ``[a-zA-Z0-9_-]``, Anthropic's rule; a SHA-256 hex digest does), else a hash of it. The store
    records both, so the mapping is never lost.

    >>> custom_id_for("ab" * 32) == "ab" * 32, len(custom_id_for("x" * 100))
    (True, 64)
    """
    return key if _SAFE_ID.match(key) else "h" + hashlib.sha256(key.encode()).hexdigest()[:63]


def provider_model(backend: str, model: str) -> str:
    """The model name the provider's API wants: litellm's ``provider/model`` loses its prefix.

    >>> provider_model("litellm", "anthropic/claude-3-5-haiku-20241022"), provider_model("openai", "org/model")
    ('claude-3-5-haiku-20241022', 'org/model')
    """
    if backend == "litellm" and "/" in model:
        return model.split("/", 1)[1]
    return model


def read_request(request_json: str) -> tuple[dict, CallParams, list[dict]]:
    """(call description, call parameters, messages) of a stored request JSON (what
    :meth:`prefjudge.judging.engine.Engine.request` builds and the store records)."""
    data = json.loads(request_json)
    call = data["call"]
    return call, CallParams(**call["params"]), data["messages"]


def encode(line: dict) -> bytes:
    """One JSONL line (no newline)."""
    return json.dumps(line, ensure_ascii=False, separators=(",", ":")).encode()


def transient_status(status: Any) -> bool:
    """Whether an HTTP status inside a batch result is worth another submission."""
    return isinstance(status, int) and (status >= 500 or status in (408, 409, 425, 429))


class BatchProvider(ABC):
    """One account of one batch API (a base URL and a key)."""

    name: ProviderName
    max_requests: int
    """Most requests in one batch."""
    max_bytes: int
    """Most bytes of request lines in one batch (kept under the provider's limit)."""
    one_model: bool = False
    """Whether a batch may hold requests for one model only (OpenAI's rule)."""

    @abstractmethod
    def line(self, custom_id: str, request_json: str) -> bytes:
        """The batch line (encoded) of one stored request; ConfigError when the provider cannot run it."""

    @abstractmethod
    async def submit(self, lines: list[bytes], submission: str, on_file: Callable[[str], None]) -> BatchState:
        """Create a batch of ``lines``; ``on_file`` records an uploaded input file id first."""

    async def find(self, submission: str, since: float) -> str | None:
        """The id of a batch created for ``submission`` whose id was never recorded (a kill right after
        creating it), or None when the provider cannot tell."""
        return None

    @abstractmethod
    async def poll(self, batch_id: str) -> BatchState:
        """The batch's state now."""

    @abstractmethod
    def results(self, state: BatchState) -> AsyncIterator[ResultLine]:
        """Every result line of an ended batch, streamed."""

    async def cancel(self, batch_id: str) -> None:  # noqa: B027 - optional
        """Ask the provider to cancel a batch."""

    async def aclose(self) -> None:  # noqa: B027 - optional
        """Release the client."""
