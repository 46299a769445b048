"""Any OpenAI-compatible server (OpenAI, vLLM, llama.cpp, Ollama, TGI, SGLang) via ``AsyncOpenAI``."""

from __future__ import annotations

import os

import httpx

from ..errors import PermanentBackendError
from ..types import Completion
from .base import Backend, CallParams
from .errors_map import map_exception


def request_kwargs(model: str, messages: list[dict], params: CallParams) -> dict:
    """The chat-completions keyword arguments shared by the openai and litellm backends."""
    kw: dict = {"model": model, "messages": messages, "temperature": params.temperature, "max_tokens": params.max_tokens}
    if params.logprobs:
        kw["logprobs"] = True
        kw["top_logprobs"] = params.top_logprobs or 5
    if params.response_format is not None:
        kw["response_format"] = params.response_format
    kw.update(params.extra)
    return kw


def completion_from_response(resp) -> Completion:
    """Read text, per-token top logprobs and usage from an OpenAI-format response object."""
    choice = resp.choices[0]
    top = None
    lp = getattr(choice, "logprobs", None)
    content = getattr(lp, "content", None) if lp is not None else None
    if content:
        top = [{t.token: t.logprob for t in (tok.top_logprobs or [])} or {tok.token: tok.logprob} for tok in content]
    usage = getattr(resp, "usage", None)
    return Completion(
        text=choice.message.content or "",
        top_logprobs=top,
        prompt_tokens=getattr(usage, "prompt_tokens", None),
        completion_tokens=getattr(usage, "completion_tokens", None),
        finish_reason=getattr(choice, "finish_reason", None),
    )


def http_client(judge):
    """openai's aiohttp transport when installed (about 5x less client CPU per call than httpx here,
    see docs/benchmarks.md), else the default httpx client. Pool sized to the judge's concurrency."""
    size = max(judge.max_concurrency, 10)
    limits = httpx.Limits(max_connections=size, max_keepalive_connections=size)
    try:
        import httpx_aiohttp  # noqa: F401  (openai[aiohttp])
        from openai import DefaultAioHttpClient
    except ImportError:
        return httpx.AsyncClient(limits=limits, timeout=judge.timeout)
    return DefaultAioHttpClient(limits=limits, timeout=judge.timeout)


def completion_from_json(data: dict) -> Completion:
    """Read text, per-token top logprobs and usage from an OpenAI-format response body."""
    try:
        choice = data["choices"][0]
        text = choice["message"].get("content") or ""
    except (KeyError, IndexError, TypeError, AttributeError) as exc:
        raise PermanentBackendError(f"malformed chat completion: {str(data)[:300]}") from exc
    top = None
    content = (choice.get("logprobs") or {}).get("content")
    if content:
        top = [{t["token"]: t["logprob"] for t in (tok.get("top_logprobs") or [])} or {tok["token"]: tok["logprob"]}
               for tok in content]
    usage = data.get("usage") or {}
    return Completion(text=text, top_logprobs=top, prompt_tokens=usage.get("prompt_tokens"),
                      completion_tokens=usage.get("completion_tokens"), finish_reason=choice.get("finish_reason"))


class OpenAIBackend(Backend):
    def __init__(self, judge):
        super().__init__(judge)
        from openai import AsyncOpenAI

        key = judge.resolved_api_key() or os.environ.get("OPENAI_API_KEY")
        if key is None and judge.base_url is not None:
            key = "not-needed"  # local servers (vLLM, llama.cpp, Ollama...) accept any key
        self._client = AsyncOpenAI(base_url=judge.base_url, api_key=key, max_retries=0, timeout=judge.timeout,
                                   http_client=http_client(judge))

    async def complete(self, messages: list[dict], params: CallParams) -> Completion:
        # The documented raw-request path of the openai client (same auth, base URL, timeouts and
        # status errors as .chat.completions.create) without its request transform and response
        # model construction, which cost most of the client's CPU per call (docs/benchmarks.md).
        try:
            raw = await self._client.post("/chat/completions", body=request_kwargs(self.judge.model, messages, params),
                                          cast_to=httpx.Response)
            data = raw.json()
        except Exception as exc:  # classified, never swallowed
            raise map_exception(exc) from exc
        return completion_from_json(data)

    async def aclose(self) -> None:
        await self._client.close()
