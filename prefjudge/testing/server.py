"""A loopback OpenAI-compatible server that plays simulated judges and generators.

In a test::

    with SimServer(judges=[SimJudge(name="sim-judge")]) as server:
        client = openai.OpenAI(base_url=server.base_url, api_key="x")

From a shell (benchmarks, tests that kill processes)::

    python -m prefjudge.testing.server --config sim.yaml --port 0 --port-file port.txt --log-file log.jsonl
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from prefjudge.testing.app import LogRecord, SimApp
from prefjudge.testing.batch_api import BatchApi, BatchSimConfig
from prefjudge.testing.config import SimServerConfig, check_loopback
from prefjudge.testing.sim import SimGenerator, SimJudge, SimWorld

_START_TIMEOUT_S = 30.0


class SimServer:
    """The simulator in a background thread with its own event loop, bound to 127.0.0.1.

    ``judges``/``generators`` default to :func:`default_sim_jury` and
    :func:`default_sim_generators`; ``world`` to an empty :class:`SimWorld`; ``batch`` configures the
    batch APIs (:class:`~prefjudge.testing.batch_api.BatchSimConfig`). Use it as a context
    manager (``with`` or ``async with``) or call :meth:`start` and :meth:`stop`.
    """

    def __init__(self, judges: Sequence[SimJudge] | None = None, generators: Sequence[SimGenerator] | None = None,
                 world: SimWorld | None = None, seed: int = 0, host: str = "127.0.0.1", port: int = 0,
                 log_file: str | Path | None = None, batch: BatchSimConfig | None = None):
        check_loopback(host)
        fields: dict[str, Any] = {"seed": seed, "host": host, "port": port, "world": world or SimWorld()}
        if judges is not None:
            fields["judges"] = list(judges)
        if generators is not None:
            fields["generators"] = list(generators)
        self._init(SimServerConfig(**fields), log_file, batch)

    @classmethod
    def from_config(cls, config: SimServerConfig, log_file: str | Path | None = None,
                    batch: BatchSimConfig | None = None) -> SimServer:
        """A server for a :class:`SimServerConfig` (for example one loaded with ``from_file``)."""
        server = cls.__new__(cls)
        server._init(config, log_file, batch)
        return server

    def _init(self, config: SimServerConfig, log_file: str | Path | None, batch: BatchSimConfig | None = None) -> None:
        check_loopback(config.host)
        self.config = config
        self._app = SimApp(config, log_file, batch)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._port: int | None = None
        self._error: BaseException | None = None

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> SimServer:
        """Bind the socket and serve in a background thread; returns self."""
        if self._thread is not None:
            raise RuntimeError("SimServer already started")
        ready = threading.Event()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, args=(ready,), name="prefjudge-sim-server", daemon=True)
        self._thread.start()
        if not ready.wait(_START_TIMEOUT_S):
            raise RuntimeError("SimServer did not start in time")
        if self._error is not None:
            self._thread.join()
            self._thread = None
            raise self._error
        return self

    def _run(self, ready: threading.Event) -> None:
        loop = self._loop
        assert loop is not None
        asyncio.set_event_loop(loop)
        try:
            self._port = loop.run_until_complete(self._app.open(self.config.host, self.config.port))
        except BaseException as exc:  # surfaced to the caller of start()
            self._error = exc
            ready.set()
            loop.close()
            return
        ready.set()
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(self._app.close())
            loop.close()

    def stop(self) -> None:
        """Stop serving (held requests are cancelled) and flush the JSONL log."""
        if self._thread is None or self._loop is None:
            return
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._thread = None

    def __enter__(self) -> SimServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def __aenter__(self) -> SimServer:
        return await asyncio.to_thread(self.start)

    async def __aexit__(self, *exc: object) -> None:
        await asyncio.to_thread(self.stop)

    # ------------------------------------------------------------------ access
    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("SimServer is not started")
        return self._port

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT/v1``: pass it as the OpenAI client's ``base_url``."""
        host = f"[{self.config.host}]" if ":" in self.config.host else self.config.host
        return f"http://{host}:{self.port}/v1"

    @property
    def world(self) -> SimWorld:
        """The latent world the judges consult (register texts here, from any thread)."""
        return self._app.world

    @property
    def batches(self) -> BatchApi:
        """The simulated batch APIs: their config (``configure``, ``release``), batches and per-custom_id log."""
        return self._app.batches

    @property
    def log(self) -> list[LogRecord]:
        """A snapshot of the request log (thread-safe copy)."""
        with self._app.lock:
            return list(self._app.records)

    def records(self, **match: Any) -> list[LogRecord]:
        """Log records whose fields equal ``match`` (e.g. ``model="sim-gpt", status=200``)."""
        return [r for r in self.log if all(getattr(r, k) == v for k, v in match.items())]

    def count_ok(self, key: str | None = None, **match: Any) -> int:
        """Number of requests answered with status 200 (garbled answers included), for ``key`` if given."""
        if key is not None:
            match["key"] = key
        return len(self.records(status=200, **match))

    def attempts(self, key: str) -> int:
        """How many times the request with content hash ``key`` was received."""
        return self._app.attempts.get(key, 0)

    def clear_log(self) -> None:
        """Forget the log and the attempt counts (fault draws start again at attempt 0)."""
        with self._app.lock:
            self._app.records.clear()
            self._app.attempts.clear()
        self._app.batches.clear()


# ---------------------------------------------------------------------- command line
def _write_port_file(path: Path, port: int) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(str(port), encoding="utf-8")
    os.replace(tmp, path)


async def _serve_until_signal(config: SimServerConfig, port_file: Path | None, log_file: Path | None) -> None:
    app = SimApp(config, log_file)
    port = await app.open(config.host, config.port)
    if port_file is not None:
        _write_port_file(port_file, port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print(f"prefjudge simulator serving on http://{config.host}:{port}/v1", flush=True)
    try:
        await stop.wait()
    finally:
        await app.close()


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m prefjudge.testing.server",
                                     description="Serve simulated LLM judges and generators on loopback.")
    parser.add_argument("--config", type=Path, help="SimServerConfig as YAML or JSON (default: the demo jury)")
    parser.add_argument("--host", help="loopback address to bind (default: the config's, 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port (0 picks a free one; default: the config's)")
    parser.add_argument("--port-file", type=Path, help="write the bound port to this file")
    parser.add_argument("--log-file", type=Path, help="append one JSON line per request here")
    parser.add_argument("--seed", type=int, help="override the config's seed")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point: serve until SIGTERM or SIGINT."""
    args = _parse_args(argv)
    config = SimServerConfig.from_file(args.config) if args.config else SimServerConfig()
    overrides = {k: v for k, v in (("host", args.host), ("port", args.port), ("seed", args.seed)) if v is not None}
    if overrides:
        check_loopback(overrides.get("host", config.host))
        config = config.model_copy(update=overrides)
    asyncio.run(_serve_until_signal(config, args.port_file, args.log_file))
    return 0


if __name__ == "__main__":
    sys.exit(main())
