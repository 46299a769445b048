"""Endpoint: where calls go and how they travel (model, backend, URL, key source, timeout, limits).

The transport fields are declared once, in :class:`EndpointSettings`. Judges
(:class:`prefjudge.Judge`) and generators (:class:`prefjudge.Generator`) carry them as their own
flat fields, so a YAML judges file stays a flat mapping (``model``, ``base_url``, ``api_key_env``...),
and hand :attr:`EndpointSettings.endpoint` (an :class:`Endpoint`) to the transport: a backend is
built from an Endpoint and receives messages, nothing else.

>>> e = Endpoint(model="qwen2.5-7b-instruct", base_url="http://u:pw@127.0.0.1:8000/v1", api_key="sk-secret-123")
>>> "pw" in repr(e) or "sk-secret" in repr(e)
False
>>> e.where()
'http://127.0.0.1:8000/v1'
"""

from __future__ import annotations

import os
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from prefjudge.backends.errors_map import MAX_RETRY_WAIT_S
from prefjudge.errors import ConfigError

#: Fields of :class:`EndpointSettings` (the transport), in declaration order.
TRANSPORT_FIELDS = ("model", "backend", "base_url", "api_key", "api_key_env", "timeout", "max_concurrency", "rpm", "tpm",
                    "max_retries", "retry_wait_s", "params", "price")


class EndpointSettings(BaseModel):
    """The transport fields, declared once for Endpoint, Judge and Generator."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    model: str
    backend: str = "openai"
    base_url: str | None = None
    api_key: SecretStr | None = Field(default=None, exclude=True, repr=False)
    api_key_env: str | None = None
    """Name of the environment variable that holds the key (read when the backend is built).

    The way to give a key in a YAML file: a file never holds the key itself."""
    timeout: float = Field(default=60.0, gt=0, allow_inf_nan=False)
    max_concurrency: int = Field(default=16, gt=0)
    rpm: int | None = Field(default=None, gt=0)
    tpm: int | None = Field(default=None, gt=0)
    max_retries: int = Field(default=4, ge=0)
    retry_wait_s: float = Field(default=0.5, gt=0, le=MAX_RETRY_WAIT_S, allow_inf_nan=False)
    """First backoff between retries (doubles each time, plus up to ``retry_wait_s`` of jitter; every
    wait at most 30 s); a server's Retry-After wins (at most 60 s)."""
    price: tuple[float, float] | None = None
    """USD per million (input, output) tokens, e.g. ``[0.15, 0.6]``: the price of a self-hosted or
    unlisted model, so its cost is recorded and a ``max_cost_usd`` budget can be enforced; it wins over
    litellm's price map. Without it, hosted APIs in that map are priced and other endpoints are not."""
    params: dict[str, Any] = Field(default_factory=dict)
    """Extra request parameters sent in the request body (e.g. ``seed``, ``top_p``), except
    ``extra_headers`` (HTTP headers), ``extra_body`` (merged into the body) and ``extra_query`` (URL
    query), applied as the openai client does. Header values never show in ``repr`` or the store."""

    def __repr_args__(self):
        """``repr``/``str`` without secrets: base_url credentials and extra_headers values masked."""
        from prefjudge.secrets import MASK, redact_url

        for name, value in super().__repr_args__():
            if name == "base_url":
                value = redact_url(value)
            elif name == "params" and isinstance(value, dict) and isinstance(value.get("extra_headers"), dict):
                value = {**value, "extra_headers": {k: MASK for k in value["extra_headers"]}}
            yield name, value

    @field_validator("price")
    @classmethod
    def _price_is_finite(cls, price: tuple[float, float] | None) -> tuple[float, float] | None:
        import math

        if price is not None and not all(math.isfinite(v) and v >= 0 for v in price):
            raise ValueError("price must be two finite, non-negative numbers: USD per million input and output tokens")
        return price

    @field_validator("params")
    @classmethod
    def _client_options_are_mappings(cls, params: dict[str, Any]) -> dict[str, Any]:
        for key in ("extra_headers", "extra_body", "extra_query"):
            if params.get(key) is not None and not isinstance(params[key], dict):
                raise ValueError(f"params[{key!r}] must be a mapping, not {type(params[key]).__name__}")
        headers = params.get("extra_headers") or {}
        if not all(isinstance(v, str) for v in headers.values()):
            raise ValueError("params['extra_headers'] values must be strings")
        return params

    @property
    def endpoint(self) -> Endpoint:
        """The transport part of this judge or generator, labelled with its name for messages.

        Built on each access (not cached: ``model_copy(update=...)`` would carry a stale copy); the
        engine keeps one per judge for a run."""
        if isinstance(self, Endpoint):
            return self
        values = {f: getattr(self, f) for f in TRANSPORT_FIELDS}
        return Endpoint(**values, label=getattr(self, "name", None))


def named_defaults(data: Any) -> Any:
    """Before validation of a judge or generator: ``name`` defaults to the model, ``family`` to the
    model's family (:func:`prefjudge.families.infer_family`)."""
    from prefjudge.families import infer_family

    if isinstance(data, dict) and isinstance(data.get("model"), str):
        data = dict(data)
        data["name"] = data.get("name") or data["model"]
        data["family"] = data.get("family") or infer_family(data["model"])
    return data


class NamedEndpointSettings(EndpointSettings):
    """EndpointSettings plus a name and a family: the shared base of Judge and Generator, built
    with the model as the one positional argument (``Judge("gpt-4o")``)."""

    family: str | None = None
    name: str | None = None

    def __init__(self, model: str | None = None, /, **data: Any):
        if model is not None:
            data["model"] = model
        super().__init__(**data)

    @model_validator(mode="before")
    @classmethod
    def _defaults(cls, data: Any) -> Any:
        return named_defaults(data)


class Endpoint(EndpointSettings):
    """One place calls go: a backend, a model, an optional URL and key source, a timeout and limits."""

    label: str | None = Field(default=None, exclude=True)
    """Who uses the endpoint (a judge's or generator's name), for messages only."""

    @property
    def priced(self) -> bool:
        """Whether calls have a price: an explicit ``price``, or litellm's price map (a hosted API,
        not a self-hosted server)."""
        return self.price is not None or self.backend == "litellm" or (self.backend == "openai" and self.base_url is None)

    def call_cost(self, prompt_tokens: int | None, completion_tokens: int | None,
                  cached_prompt_tokens: int | None = None) -> float | None:
        """USD of one call: at ``price`` when set, else litellm's price map for hosted APIs; None when
        unknown.

        >>> Endpoint(model="my-llama", base_url="http://127.0.0.1:8000/v1", price=(0.2, 0.8)).call_cost(1000, 100)
        0.00028
        >>> Endpoint(model="my-llama", base_url="http://127.0.0.1:8000/v1").call_cost(1000, 100) is None
        True
        """
        if self.price is not None:
            if prompt_tokens is None or completion_tokens is None:
                return None
            return (prompt_tokens * self.price[0] + completion_tokens * self.price[1]) / 1e6
        if not self.priced:
            return None
        from prefjudge.backends.pricing import cost_usd

        return cost_usd(self.model, prompt_tokens, completion_tokens, cached_prompt_tokens)

    def resolved_api_key(self) -> str | None:
        """The key to send: ``api_key``, else the ``api_key_env`` variable (None when neither is set).

        >>> import os; os.environ["PJ_DOCTEST_KEY"] = "k1"
        >>> Endpoint(model="m", api_key_env="PJ_DOCTEST_KEY").resolved_api_key()
        'k1'
        """
        if self.api_key is not None:
            return self.api_key.get_secret_value()
        if self.api_key_env:
            value = os.environ.get(self.api_key_env)
            if value is None:
                raise ConfigError(f"judge {self.label or self.model!r}: environment variable {self.api_key_env} "
                                  "(api_key_env) is not set")
            return value
        return None

    def preflight(self) -> None:
        """Fail before the first call: an unknown backend, an ``api_key_env`` variable that is not set,
        and what the backend class checks itself (its ``preflight(endpoint)``, e.g. a local model that
        cannot be loaded)."""
        from prefjudge.backends import backend_class

        check = getattr(backend_class(self.backend), "preflight", None)
        self.resolved_api_key()
        if callable(check):
            check(self)

    def where(self) -> str | None:
        """Where the calls go, without credentials: ``base_url``, or for the openai backend the
        ``OPENAI_BASE_URL`` the client would read; None for the backend's default endpoint."""
        from prefjudge.secrets import redact_url

        url = self.base_url
        if url is None and self.backend == "openai":
            url = os.environ.get("OPENAI_BASE_URL") or None
        return redact_url(url, drop_userinfo=True)

    def secrets(self) -> set[str]:
        """Values these calls may carry that must never be written: the key, the provider keys the
        backend may fall back on, the URL password and the ``extra_headers`` values."""
        from prefjudge.secrets import url_password

        found: set[str] = set()
        try:
            found.add(self.resolved_api_key() or "")
        except ConfigError:
            pass
        if self.backend == "openai":
            found.add(os.environ.get("OPENAI_API_KEY", ""))
        elif self.backend == "litellm":  # litellm reads the provider's variable (ANTHROPIC_API_KEY...)
            found.update(v for k, v in os.environ.items() if any(t in k.upper() for t in ("API_KEY", "TOKEN", "SECRET")))
        found.add(url_password(self.base_url) or "")
        headers = self.params.get("extra_headers")
        if isinstance(headers, dict):
            found.update(v for v in headers.values() if isinstance(v, str))
        return {v for v in found if v}
