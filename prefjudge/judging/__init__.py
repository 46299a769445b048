"""Asking judges: Judge (+ re-ask), templates and prompts, verdict parsing, the engine (concurrency, retries, rate limits, cost), the store, rank_pairs and its result."""
