"""One place that removes secrets from text before prefjudge logs, stores or returns it.

Redacted: every value registered with :func:`register_secret` (the engine registers each judge's
resolved API key, the provider keys it may fall back on, URL passwords and ``extra_headers``
values), credentials in URLs (``https://user:pass@host`` -> ``https://***@host``, ``?api-key=...``),
``Authorization``/``api-key``-like header values, ``Bearer``/``Basic`` tokens and ``sk-...`` keys.

>>> redact("401: Incorrect API key provided: sk-abc123def456ghi")
'401: Incorrect API key provided: ***'
>>> redact_url("https://user:pass@proxy.example/v1")
'https://***@proxy.example/v1'
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

MASK = "***"
MIN_SECRET_LEN = 8
"""Shorter registered values (test keys like ``"x"``) are not treated as secrets: masking them would
garble every message."""

_KEY_NAME = r"(?:authorization|proxy-authorization|api[-_ ]?key|x-api-key|x-goog-api-key|api[-_]?token|access[-_]?token|secret|password)"
_PATTERNS = [
    # URL userinfo: scheme://user:pass@host
    (re.compile(r"(?P<pre>\b[a-zA-Z][a-zA-Z0-9+.-]*://)[^/\s@'\"]+@"), r"\g<pre>" + MASK + "@"),
    # Bearer / Basic tokens
    (re.compile(r"(?P<pre>\b(?:Bearer|Basic|Token)\s+)[A-Za-z0-9._~+/=\-]{6,}", re.I), r"\g<pre>" + MASK),
    # header- or field-like key names followed by a value: api-key: x, 'Authorization': 'x', api_key=x
    (re.compile(r"(?P<pre>['\"]?\b" + _KEY_NAME + r"['\"]?\s*[:=]\s*['\"]?)(?!\*\*\*)(?:(?:Bearer|Basic|Token)\s+)?[^\s'\",;&}]{3,}", re.I),
     r"\g<pre>" + MASK),
    # OpenAI/Anthropic-style keys
    (re.compile(r"\bsk-[A-Za-z0-9_\-]{8,}"), MASK),
]
_QUERY_KEY = re.compile(r"key|token|secret|password|sig|auth", re.I)

_registered: set[str] = set()
_lock = threading.Lock()


def register_secret(value: str | None) -> None:
    """Remember a value to redact from now on, in this process (values under 8 characters are ignored)."""
    if isinstance(value, str) and len(value) >= MIN_SECRET_LEN:
        with _lock:
            _registered.add(value)


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` without the registered ``secrets``, URL credentials, header values or bearer tokens.

    >>> redact("Authorization: Bearer abcdefgh1234 sent")
    'Authorization: *** sent'
    """
    if not text:
        return text
    with _lock:
        known = set(_registered)
    known.update(s for s in secrets if isinstance(s, str) and len(s) >= MIN_SECRET_LEN)
    for value in sorted(known, key=len, reverse=True):  # longest first: a key containing another
        if value in text:
            text = text.replace(value, MASK)
    for pattern, repl in _PATTERNS:
        text = pattern.sub(repl, text)
    return text


def redact_url(url: str | None, *, drop_userinfo: bool = False) -> str | None:
    """``url`` with its user:password masked (or dropped) and key-like query parameter values masked.

    >>> redact_url("http://127.0.0.1:8000/v1")
    'http://127.0.0.1:8000/v1'
    >>> redact_url("http://u:p@127.0.0.1:8000/v1", drop_userinfo=True)
    'http://127.0.0.1:8000/v1'
    """
    if not url:
        return url
    try:
        parts = urlsplit(url)
    except ValueError:
        return redact(url)
    netloc = parts.netloc
    if "@" in netloc:
        host = netloc.rsplit("@", 1)[1]
        netloc = host if drop_userinfo else MASK + "@" + host
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        if any(_QUERY_KEY.search(k) for k, _ in pairs):
            query = urlencode([(k, MASK if _QUERY_KEY.search(k) else v) for k, v in pairs], safe="*")
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def url_password(url: str | None) -> str | None:
    """The password (or the lone user token) in a URL's userinfo, if any."""
    if not url:
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    return parts.password or parts.username
