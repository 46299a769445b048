"""Any OpenAI-compatible server (OpenAI, vLLM, llama.cpp, Ollama, TGI, SGLang) via ``AsyncOpenAI``."""

from __future__ import annotations

import json
import os

import httpx

from prefjudge.backends.base import Backend, CallParams
from prefjudge.backends.endpoint import Endpoint
from prefjudge.backends.errors_map import map_exception
from prefjudge.backends.reply import read_chat_completion, response_to_dict
from prefjudge.errors import PermanentBackendError
from prefjudge.types import Completion

CLIENT_OPTIONS = ("extra_headers", "extra_body", "extra_query")
"""``Judge.params`` keys applied the way the openai client applies them, never sent as body keys."""


def split_extra(extra: dict) -> tuple[dict, dict]:
    """(body parameters, client options) of ``CallParams.extra``.

    >>> split_extra({"seed": 1, "extra_headers": {"X-A": "1"}})
    ({'seed': 1}, {'extra_headers': {'X-A': '1'}})
    """
    body = {k: v for k, v in extra.items() if k not in CLIENT_OPTIONS}
    options = {k: extra[k] for k in CLIENT_OPTIONS if extra.get(k)}
    for k, v in options.items():
        if not isinstance(v, dict):
            raise PermanentBackendError(f"params[{k!r}] must be a mapping, not {type(v).__name__}")
    return body, options


def request_kwargs(model: str, messages: list[dict], params: CallParams) -> dict:
    """The chat-completions body shared by the openai and litellm backends (without client options)."""
    kw: dict = {"model": model, "messages": messages, "temperature": params.temperature, "max_tokens": params.max_tokens}
    if params.logprobs:
        kw["logprobs"] = True
        kw["top_logprobs"] = params.top_logprobs or 5
    if params.response_format is not None:
        kw["response_format"] = params.response_format
    kw.update(split_extra(params.extra)[0])
    return kw


def completion_from_response(resp) -> Completion:
    """Read a client response object (litellm, openai): dumped to a dict, then :func:`completion_from_json`."""
    return read_chat_completion(response_to_dict(resp))


def url_credentials(url: str | None) -> tuple[str | None, str | None]:
    """(``url`` without user:password, a ``Basic`` Authorization value for them or None).

    >>> url_credentials("http://u:p@127.0.0.1:8000/v1")
    ('http://127.0.0.1:8000/v1', 'Basic dTpw')
    """
    if not url or "@" not in url:
        return url, None
    import base64
    from urllib.parse import unquote, urlsplit, urlunsplit

    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url, None
    token = base64.b64encode(f"{unquote(parts.username or '')}:{unquote(parts.password or '')}".encode()).decode()
    return urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[1])), f"Basic {token}"


def http_client(endpoint: Endpoint):
    """openai's aiohttp transport when installed (about 5x less client CPU per call than httpx here,
    see docs/benchmarks.md), else the default httpx client. Pool sized to the endpoint's concurrency."""
    size = max(endpoint.max_concurrency, 10)
    limits = httpx.Limits(max_connections=size, max_keepalive_connections=size)
    try:
        import httpx_aiohttp  # noqa: F401  (openai[aiohttp])
        from openai import DefaultAioHttpClient
    except ImportError:
        return httpx.AsyncClient(limits=limits, timeout=endpoint.timeout)
    return DefaultAioHttpClient(limits=limits, timeout=endpoint.timeout)


def completion_from_json(data) -> Completion:
    """Read text, per-token top logprobs and usage from an OpenAI-format response body (validated)."""
    return read_chat_completion(data)


class OpenAIBackend(Backend):
    def __init__(self, endpoint: Endpoint):
        super().__init__(endpoint)
        from openai import AsyncOpenAI

        key = endpoint.resolved_api_key() or os.environ.get("OPENAI_API_KEY")
        if key is None and endpoint.base_url is not None:
            key = "not-needed"  # local servers (vLLM, llama.cpp, Ollama...) accept any key
        # The endpoint's extra_headers/extra_query are the client's defaults (so the client's debug log
        # of request options never shows them); user:password in base_url becomes a Basic
        # Authorization header (what httpx does with URL credentials) and leaves the URL.
        base_url, basic = url_credentials(endpoint.base_url)
        self._defaults = split_extra(endpoint.params)[1]
        headers = dict(self._defaults.get("extra_headers") or {})
        if basic is not None:
            headers["Authorization"] = basic
        self._client = AsyncOpenAI(base_url=base_url, api_key=key, max_retries=0, timeout=endpoint.timeout,
                                   http_client=http_client(endpoint), default_headers=headers or None,
                                   default_query=self._defaults.get("extra_query"))

    async def complete(self, messages: list[dict], params: CallParams) -> Completion:
        # The documented raw-request path of the openai client (same auth, base URL, timeouts and
        # status errors as .chat.completions.create) without its request transform and response
        # model construction, which cost most of the client's CPU per call (docs/benchmarks.md).
        body = request_kwargs(self.endpoint.model, messages, params)
        extra = split_extra(params.extra)[1]
        options: dict = {}
        if "extra_body" in extra:
            options["extra_json"] = extra["extra_body"]
        for name, option in (("extra_headers", "headers"), ("extra_query", "params")):
            if name in extra and extra[name] != self._defaults.get(name):  # per-call values (not the endpoint's)
                options[option] = extra[name]
        try:
            raw = await self._client.post("/chat/completions", body=body, cast_to=httpx.Response, options=options)
            content = raw.content
        except Exception as exc:  # classified, never swallowed
            raise map_exception(exc) from exc
        try:
            data = json.loads(content)
        except ValueError as exc:
            raise PermanentBackendError(f"malformed chat completion: the body is not JSON ({exc}): "
                                        f"{content[:200].decode('utf-8', 'replace')!r}") from exc
        return completion_from_json(data)

    async def aclose(self) -> None:
        await self._client.close()
