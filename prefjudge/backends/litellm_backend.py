"""100+ providers through ``litellm.acompletion`` (imported lazily; offline price map)."""

from __future__ import annotations

import os

from prefjudge.backends.base import Backend, CallParams
from prefjudge.backends.endpoint import Endpoint
from prefjudge.backends.errors_map import map_exception
from prefjudge.backends.openai_backend import completion_from_response, request_kwargs, split_extra
from prefjudge.errors import ConfigError
from prefjudge.types import Completion


def import_litellm():
    """Import litellm without its network fetch of the model cost map."""
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    import litellm

    litellm.suppress_debug_info = True
    return litellm


def cache_marked(model: str, messages: list[dict]) -> list[dict]:
    """Anthropic caches a prompt prefix only up to an explicit marker: mark the system message (the
    judge's instructions, the same for every call) ``cache_control: ephemeral``; litellm passes it on.
    Other providers cache automatically and get the messages unchanged. The request hash is computed
    before this, so stores are unaffected.

    >>> cache_marked("anthropic/claude-haiku-4-5", [{"role": "system", "content": "rules"}])[0]["content"]
    [{'type': 'text', 'text': 'rules', 'cache_control': {'type': 'ephemeral'}}]
    >>> cache_marked("gpt-4o-mini", [{"role": "system", "content": "rules"}])[0]["content"]
    'rules'
    """
    name = model.lower()
    if not (name.startswith("anthropic/") or name.startswith("claude") or "/claude" in name):
        return messages
    out = []
    for m in messages:
        if m.get("role") == "system" and isinstance(m.get("content"), str) and m["content"]:
            m = {**m, "content": [{"type": "text", "text": m["content"], "cache_control": {"type": "ephemeral"}}]}
        out.append(m)
    return out


class LiteLLMBackend(Backend):
    def __init__(self, endpoint: Endpoint):
        super().__init__(endpoint)
        if endpoint.params.get("extra_query"):  # litellm would send it as a body key
            raise ConfigError(f"judge {endpoint.label or endpoint.model!r}: params['extra_query'] is not supported by the litellm backend; "
                              "use the openai backend (base_url=...) or put the parameters in base_url")
        self._litellm = import_litellm()

    async def complete(self, messages: list[dict], params: CallParams) -> Completion:
        kw = request_kwargs(self.endpoint.model, cache_marked(self.endpoint.model, messages), params)
        kw.update(split_extra(params.extra)[1])  # extra_headers, extra_body: litellm's own keyword arguments
        if self.endpoint.base_url:
            kw["api_base"] = self.endpoint.base_url
        key = self.endpoint.resolved_api_key()
        if key is not None:
            kw["api_key"] = key
        try:
            resp = await self._litellm.acompletion(**kw, num_retries=0, timeout=self.endpoint.timeout)
        except Exception as exc:
            raise map_exception(exc) from exc
        return completion_from_response(resp)  # the openai backend's validating reader, on resp.model_dump()
