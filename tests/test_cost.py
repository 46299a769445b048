"""Prompt-cache usage is read from replies and priced at the cache-read price."""

from __future__ import annotations

import pytest

from prefjudge.backends.pricing import cost_usd, price_map
from prefjudge.backends.reply import read_chat_completion

BODY = {"choices": [{"message": {"content": "[[A]]"}, "finish_reason": "stop"}]}


@pytest.mark.parametrize("usage,cached", [
    ({"prompt_tokens": 2000, "completion_tokens": 5, "prompt_tokens_details": {"cached_tokens": 1536}}, 1536),
    ({"prompt_tokens": 2000, "completion_tokens": 5, "cache_read_input_tokens": 1024}, 1024),  # Anthropic's field
    ({"prompt_tokens": 2000, "completion_tokens": 5, "prompt_tokens_details": {"cached_tokens": -3}}, None),
    ({"prompt_tokens": 2000, "completion_tokens": 5, "prompt_tokens_details": "odd"}, None),
    ({"prompt_tokens": 2000, "completion_tokens": 5}, None),
])
def test_cached_prompt_tokens_are_read_from_the_usage(usage, cached):
    assert read_chat_completion({**BODY, "usage": usage}).cached_prompt_tokens == cached


def test_cached_tokens_cost_the_cache_read_price_and_never_more_than_the_prompt():
    entry = price_map().get("gpt-4o-mini")
    if not entry or "cache_read_input_token_cost" not in entry:
        pytest.skip("litellm's price map has no gpt-4o-mini cache price here")
    unit_in, unit_out, unit_cached = (entry["input_cost_per_token"], entry["output_cost_per_token"],
                                      entry["cache_read_input_token_cost"])
    assert unit_cached < unit_in
    assert cost_usd("gpt-4o-mini", 1000, 10) == pytest.approx(1000 * unit_in + 10 * unit_out)
    assert cost_usd("gpt-4o-mini", 1000, 10, 800) == pytest.approx(200 * unit_in + 800 * unit_cached + 10 * unit_out)
    # a provider that reports more cached tokens than prompt tokens is clamped, never a negative count
    assert cost_usd("gpt-4o-mini", 1000, 10, 5000) == pytest.approx(1000 * unit_cached + 10 * unit_out)
