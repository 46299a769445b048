"""Cost per call from litellm's offline price map, read as JSON without importing litellm (an endpoint's own ``price`` wins: :meth:`prefjudge.backends.endpoint.Endpoint.call_cost`)."""

from __future__ import annotations

import functools
import importlib.util
import json
import math
from pathlib import Path

_MAP_FILE = "model_prices_and_context_window_backup.json"


@functools.lru_cache(maxsize=1)
def price_map() -> dict:
    """litellm's bundled price table, or {} when litellm is not installed."""
    spec = importlib.util.find_spec("litellm")
    if spec is None or not spec.submodule_search_locations:
        return {}
    for folder in spec.submodule_search_locations:
        path = Path(folder) / _MAP_FILE
        if path.exists():
            return json.loads(path.read_text())
    return {}


def cost_usd(model: str, prompt_tokens: int | None, completion_tokens: int | None,
             cached_prompt_tokens: int | None = None) -> float | None:
    """Dollar cost of one call, or None when the model's price is unknown or usage is missing.

    ``cached_prompt_tokens`` (part of ``prompt_tokens``) are priced at the model's cache-read price
    when the price map has one (``cache_read_input_token_cost``), else at the input price.

    >>> cost_usd("no-such-model-xyz", 10, 2) is None
    True
    """
    if prompt_tokens is None or completion_tokens is None:
        return None
    prices = price_map()
    entry = prices.get(model) or prices.get(model.split("/", 1)[-1])
    if not isinstance(entry, dict):
        return None
    unit_in, unit_out = entry.get("input_cost_per_token"), entry.get("output_cost_per_token", 0.0)
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in (unit_in, unit_out)):
        return None  # an unknown or odd price entry is no price, never a crash or a NaN
    cached = min(max(cached_prompt_tokens or 0, 0), prompt_tokens)
    unit_cached = entry.get("cache_read_input_token_cost")
    if not (isinstance(unit_cached, (int, float)) and not isinstance(unit_cached, bool) and math.isfinite(unit_cached)):
        unit_cached = unit_in
    return (prompt_tokens - cached) * unit_in + cached * unit_cached + completion_tokens * unit_out
