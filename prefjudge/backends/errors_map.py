"""Map OpenAI-style client exceptions (openai, litellm) to prefjudge's transient/permanent errors."""

from __future__ import annotations

import asyncio
import math

from prefjudge.errors import BackendError, PermanentBackendError, TransientBackendError
from prefjudge.secrets import redact

_TRANSIENT_STATUS = {408, 409, 425, 429}
MAX_RETRY_AFTER_S = 60.0
"""The longest wait a server's Retry-After can ask for; longer requests are cut to this."""
MAX_RETRY_WAIT_S = 30.0
"""The longest backoff between two attempts (and the largest ``Judge.retry_wait_s``)."""


def clamp_retry_after(seconds: float | None) -> float | None:
    """A finite wait in [0, MAX_RETRY_AFTER_S], or None for NaN, infinities and non-numbers.

    >>> clamp_retry_after(-2.0), clamp_retry_after(1e9), clamp_retry_after(float("nan"))
    (0.0, 60.0, None)
    """
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not math.isfinite(seconds):
        return None
    return min(max(float(seconds), 0.0), MAX_RETRY_AFTER_S)


def _parse_retry_after(value: str) -> float | None:
    """RFC 9110 Retry-After: delta-seconds (a decimal number is accepted too) or an HTTP-date."""
    value = value.strip()
    try:
        return float(value)
    except ValueError:
        pass
    import email.utils
    import time

    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None or when.tzinfo is None:  # RFC 9110 dates are GMT; a naive one is not a valid date
        return None
    return when.timestamp() - time.time()


def retry_after_seconds(headers) -> float | None:
    """Seconds to wait from ``retry-after-ms`` or ``Retry-After`` headers, clamped to [0, 60] s;
    None when absent or unreadable (NaN, infinite, not a number or date)."""
    if not headers:
        return None
    try:
        ms = headers.get("retry-after-ms")
        value = headers.get("retry-after")
    except (AttributeError, TypeError):
        return None
    if ms is not None:
        try:
            seconds = clamp_retry_after(float(ms) / 1000.0)
        except (TypeError, ValueError):
            seconds = None
        if seconds is not None:
            return seconds
    if not isinstance(value, str):
        return None
    return clamp_retry_after(_parse_retry_after(value))


def map_exception(exc: BaseException) -> BackendError:
    """Classify any exception raised by an HTTP client library."""
    if isinstance(exc, BackendError):
        return exc
    name = type(exc).__name__
    status = getattr(exc, "status_code", None)
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None)
    message = f"{name}: {redact(str(exc))[:500]}"  # redacted before cutting: no half key survives
    if "Invalid response object" in message or "Empty or invalid response from LLM endpoint" in message:
        # litellm could not read a 200 reply (the openai backend's reader says the same): retrying will not help
        return PermanentBackendError(f"malformed chat completion (litellm could not read it): {message}", status=status)
    if isinstance(exc, (asyncio.TimeoutError, TimeoutError, ConnectionError)) or any(
        k in name for k in ("Timeout", "Connection", "ServiceUnavailable", "InternalServer", "RateLimit")
    ):
        return TransientBackendError(message, status=status, retry_after=retry_after_seconds(headers))
    if isinstance(status, int) and (status >= 500 or status in _TRANSIENT_STATUS):
        return TransientBackendError(message, status=status, retry_after=retry_after_seconds(headers))
    return PermanentBackendError(message, status=status)
