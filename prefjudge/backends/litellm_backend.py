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


class LiteLLMBackend(Backend):
    def __init__(self, endpoint: Endpoint):
        super().__init__(endpoint)
        if endpoint.params.get("extra_query"):  # litellm would send it as a body key
            raise ConfigError(f"judge {endpoint.label or endpoint.model!r}: params['extra_query'] is not supported by the litellm backend; "
                              "use the openai backend (base_url=...) or put the parameters in base_url")
        self._litellm = import_litellm()

    async def complete(self, messages: list[dict], params: CallParams) -> Completion:
        kw = request_kwargs(self.endpoint.model, messages, params)
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
