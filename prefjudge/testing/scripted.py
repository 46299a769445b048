"""A scripted OpenAI-compatible server: a Python function decides every reply.

For tests that need exact judge texts (quotes, injections, odd formats) rather than a simulated
judge: ``reply(body) -> str`` receives the request body (model, messages, ...) and returns the
assistant's content, or a :class:`RawReply` to send an arbitrary status, headers and body (malformed
replies, errors). Binds 127.0.0.1 only; every request body is kept in ``.requests``, its headers in
``.headers`` and its query parameters in ``.queries``.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class RawReply:
    """A reply sent as is: ``body`` bytes/str verbatim, anything else as JSON (even if not a completion)."""

    body: Any = None
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)


class ScriptedServer:
    def __init__(self, reply: Callable[[dict], str | RawReply]):
        self.reply = reply
        self.requests: list[dict] = []
        self.headers: list[dict[str, str]] = []
        self.queries: list[dict[str, str]] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self.port: int | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    async def _handle(self, request) -> Any:
        from aiohttp import web

        body = await request.json()
        self.requests.append(body)
        self.headers.append(dict(request.headers))
        self.queries.append(dict(request.query))
        text = self.reply(body)
        if isinstance(text, RawReply):
            import json

            raw = text.body if isinstance(text.body, (bytes, str)) else json.dumps(text.body)
            return web.Response(body=raw.encode() if isinstance(raw, str) else raw, status=text.status,
                                headers={"Content-Type": "application/json", **text.headers})
        return web.json_response({
            "id": f"chatcmpl-{len(self.requests)}", "object": "chat.completion", "created": 0, "model": body.get("model"),
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 10, "completion_tokens": max(1, len(text) // 4), "total_tokens": 10 + len(text) // 4},
        })

    def __enter__(self) -> ScriptedServer:
        ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, args=(ready,), daemon=True)
        self._thread.start()
        if not ready.wait(30):
            raise RuntimeError("scripted server did not start")
        return self

    def _serve(self, ready: threading.Event) -> None:
        from aiohttp import web

        self._loop = asyncio.new_event_loop()
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._handle)
        runner = web.AppRunner(app)
        self._loop.run_until_complete(runner.setup())
        site = web.TCPSite(runner, "127.0.0.1", 0)
        self._loop.run_until_complete(site.start())
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self._runner = runner
        ready.set()
        self._loop.run_forever()
        self._loop.run_until_complete(runner.cleanup())
        self._loop.close()

    def __exit__(self, *exc: object) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(10)
