"""The call store: every successful completion in SQLite (WAL), keyed by its request hash.

A rerun with the same inputs reads finished calls from here instead of calling again, which makes
runs resumable after a crash or a kill. Failed attempts are logged too (for the record) but never
replayed: a rerun tries them again. Schema changes are an append-only list of migrations.
API keys never reach the store: requests are hashed and recorded without them.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from pathlib import Path
from typing import Any

from .types import Completion

MIGRATIONS: list[str] = [
    """
    CREATE TABLE calls (
        key TEXT PRIMARY KEY,
        kind TEXT NOT NULL,
        backend TEXT NOT NULL,
        model TEXT NOT NULL,
        request TEXT NOT NULL,
        text TEXT NOT NULL,
        top_logprobs TEXT,
        prompt_tokens INTEGER,
        completion_tokens INTEGER,
        finish_reason TEXT,
        latency_s REAL,
        cost_usd REAL,
        created_at REAL NOT NULL
    );
    CREATE TABLE failures (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        key TEXT NOT NULL,
        kind TEXT NOT NULL,
        model TEXT NOT NULL,
        error TEXT NOT NULL,
        attempts INTEGER,
        created_at REAL NOT NULL
    );
    """,
]


def request_key(payload: dict[str, Any]) -> str:
    """Stable hash of a request given as a dict (keys sorted)."""
    return request_hash(json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str))


def request_hash(request_json: str) -> str:
    """SHA-256 of a request's canonical JSON text."""
    return hashlib.sha256(request_json.encode()).hexdigest()


class Store:
    """SQLite store at ``path`` (created with its folder); ``None`` keeps it in memory."""

    def __init__(self, path: str | Path | None = None):
        self.path = None if path is None else Path(path)
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        target = ":memory:" if self.path is None else str(self.path)
        self._db = sqlite3.connect(target, check_same_thread=False, isolation_level=None, timeout=30)
        if self.path is not None:
            self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._migrate()

    def _migrate(self) -> None:
        (version,) = self._db.execute("PRAGMA user_version").fetchone()
        for i, sql in enumerate(MIGRATIONS[version:], start=version + 1):
            self._db.executescript(f"BEGIN; {sql}; PRAGMA user_version = {i}; COMMIT;")

    def get(self, key: str) -> tuple[Completion, dict] | None:
        """The stored completion for ``key`` and its bookkeeping (latency, cost), or None."""
        row = self._db.execute(
            "SELECT text, top_logprobs, prompt_tokens, completion_tokens, finish_reason, latency_s, cost_usd "
            "FROM calls WHERE key = ?", (key,),
        ).fetchone()
        if row is None:
            return None
        completion = Completion(
            text=row[0], top_logprobs=json.loads(row[1]) if row[1] else None,
            prompt_tokens=row[2], completion_tokens=row[3], finish_reason=row[4],
        )
        return completion, {"latency_s": row[5], "cost_usd": row[6]}

    def put(self, key: str, *, kind: str, backend: str, model: str, request_json: str, completion: Completion,
            latency_s: float | None, cost_usd: float | None) -> None:
        """Record a finished call. Committed at once (autocommit), so a kill loses nothing finished."""
        self._db.execute(
            "INSERT OR REPLACE INTO calls VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                key, kind, backend, model, request_json, completion.text,
                json.dumps(completion.top_logprobs) if completion.top_logprobs is not None else None,
                completion.prompt_tokens, completion.completion_tokens, completion.finish_reason,
                latency_s, cost_usd, time.time(),
            ),
        )

    def put_failure(self, key: str, *, kind: str, model: str, error: str, attempts: int) -> None:
        self._db.execute(
            "INSERT INTO failures (key, kind, model, error, attempts, created_at) VALUES (?,?,?,?,?,?)",
            (key, kind, model, error, attempts, time.time()),
        )

    def count(self, table: str = "calls") -> int:
        if table not in ("calls", "failures"):
            raise ValueError(table)
        return self._db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
