"""What every batch adapter shares: its interface, batch states, result lines, custom ids, and the
parts of a provider client's life that do not depend on the provider: its settings (key, URL,
headers), a poll (retrieve, then the provider's status mapping) and the reading of a result stream
line by line. The loop that polls every batch until it ends or the deadline passes is provider-free
and lives in :class:`prefjudge.judging.batch` (``_Run.wait``)."""

from __future__ import annotations

import hashlib
import json
import os
import re
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from prefjudge.backends.base import CallParams
from prefjudge.types import Completion

if TYPE_CHECKING:
    from contextlib import AbstractAsyncContextManager

    from prefjudge.backends.endpoint import Endpoint

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


def decode_line(text: str | bytes, where: str) -> Any:
    """The JSON value of one result line, or a :class:`ResultLine` with the problem when it is not JSON.

    >>> decode_line('{"custom_id": "k"}', "x"), decode_line("oops", "line 2").problem[:21]
    ({'custom_id': 'k'}, 'line 2 is not JSON (E')
    """
    try:
        return json.loads(text)
    except ValueError as exc:
        shown = text.decode("utf-8", "replace") if isinstance(text, bytes) else text
        return ResultLine(problem=f"{where} is not JSON ({exc}): {shown[:120]!r}")


async def stream_lines(response: AbstractAsyncContextManager[Any], parse: Callable[[str, str], ResultLine],
                       where: Callable[[int], str]) -> AsyncIterator[ResultLine]:
    """``parse(line, where(number))`` of every non-blank line of a streamed response (an SDK's
    ``with_streaming_response`` call), numbered from 1 as the provider wrote them."""
    async with response as opened:
        number = 0
        async for text in opened.iter_lines():
            number += 1
            if text.strip():
                yield parse(text, where(number))


@dataclass(frozen=True)
class ClientSettings:
    """What a provider's SDK client is built with, from an endpoint."""

    api_key: str | None
    base_url: str | None
    """Without credentials (they are sent as a Basic ``Authorization`` header)."""
    headers: dict[str, str] | None
    query: Mapping[str, Any] | None


def client_settings(endpoint: Endpoint, key_env: str) -> ClientSettings:
    """The key (the endpoint's, else the ``key_env`` variable, else any key for a local server), the
    base URL without credentials, the headers (``extra_headers`` and the URL's credentials) and the
    query parameters (``extra_query``) of an endpoint's batch client."""
    from prefjudge.backends.openai_backend import split_extra, url_credentials

    key = endpoint.resolved_api_key() or os.environ.get(key_env)
    if key is None and endpoint.base_url is not None:
        key = "not-needed"  # local servers accept any key
    base_url, basic = url_credentials(endpoint.base_url)
    options = split_extra(endpoint.params)[1]
    headers = dict(options.get("extra_headers") or {})
    if basic is not None:
        headers["Authorization"] = basic
    return ClientSettings(key, base_url, headers or None, options.get("extra_query"))


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

    async def poll(self, batch_id: str) -> BatchState:
        """The batch's state now: the provider's batch object (:meth:`retrieve`) read by :meth:`state`."""
        return self.state(await self.retrieve(batch_id))

    @abstractmethod
    async def retrieve(self, batch_id: str) -> Any:
        """The provider's batch object (SDK value) now."""

    @staticmethod
    @abstractmethod
    def state(batch: Any) -> BatchState:
        """A provider's batch object (as created or retrieved) as a :class:`BatchState`: its status
        word, whether it ended, why the whole batch failed, its counts and what reading it needs."""

    @abstractmethod
    def results(self, state: BatchState) -> AsyncIterator[ResultLine]:
        """Every result line of an ended batch, streamed."""

    async def cancel(self, batch_id: str) -> None:  # noqa: B027 - optional
        """Ask the provider to cancel a batch."""

    async def aclose(self) -> None:  # noqa: B027 - optional
        """Release the client."""
