"""Map OpenAI-style client exceptions (openai, litellm) to prefjudge's transient/permanent errors."""

from __future__ import annotations

import asyncio

from ..errors import BackendError, PermanentBackendError, TransientBackendError

_TRANSIENT_STATUS = {408, 409, 425, 429}


def retry_after_seconds(headers) -> float | None:
    """Seconds from ``Retry-After`` (or ``retry-after-ms``) headers, if any."""
    if not headers:
        return None
    try:
        ms = headers.get("retry-after-ms")
        if ms is not None:
            return float(ms) / 1000.0
        value = headers.get("retry-after")
        return float(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def map_exception(exc: BaseException) -> BackendError:
    """Classify any exception raised by an HTTP client library."""
    if isinstance(exc, BackendError):
        return exc
    name = type(exc).__name__
    status = getattr(exc, "status_code", None)
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None)
    message = f"{name}: {str(exc)[:500]}"
    if isinstance(exc, (asyncio.TimeoutError, TimeoutError, ConnectionError)) or any(
        k in name for k in ("Timeout", "Connection", "ServiceUnavailable", "InternalServer", "RateLimit")
    ):
        return TransientBackendError(message, status=status, retry_after=retry_after_seconds(headers))
    if isinstance(status, int) and (status >= 500 or status in _TRANSIENT_STATUS):
        return TransientBackendError(message, status=status, retry_after=retry_after_seconds(headers))
    return PermanentBackendError(message, status=status)
