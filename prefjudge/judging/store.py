"""The call store: every successful completion in SQLite (WAL), keyed by its request hash.

A rerun with the same inputs reads finished calls from here instead of calling again, which makes
runs resumable after a crash or a kill. Failed attempts are logged too (for the record) but never
replayed: a rerun tries them again. Schema changes are an append-only list of migrations; a store
with a newer schema than this prefjudge knows is refused. Several processes may share one store:
opening and migrating are one write transaction, and a write waits for another (busy timeout).
A file that is not a prefjudge store is refused before anything is written to it.
API keys never reach the store: requests are hashed and recorded without them.
Provider batches (:mod:`prefjudge.judging.batch`) are recorded in ``batches`` and ``batch_requests``
before they are sent, so a killed batch run resumes by polling them (docs/batch.md).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import random
import sqlite3
import time
from pathlib import Path
from typing import Any

from prefjudge.errors import StoreError
from prefjudge.types import Completion

log = logging.getLogger("prefjudge")

APPLICATION_ID = 0x504A4453
"""``PRAGMA application_id`` of a prefjudge store ("PJDS"), set by the second migration."""
BUSY_TIMEOUT_S = 60.0
"""How long an open or a write waits for another process's write before giving up."""

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
    f"PRAGMA application_id = {APPLICATION_ID};",
    # provider batches (prefjudge.judging.batch): one row per submission, recorded before the provider
    # is asked to create it (``status`` 'submitting', ``batch_id`` NULL) so a kill at any point leaves a
    # trace to resume from; ``collected`` = its results were read into ``calls``/``failures``.
    """
    CREATE TABLE batches (
        id TEXT PRIMARY KEY,
        provider TEXT NOT NULL,
        endpoint TEXT NOT NULL,
        batch_id TEXT,
        input_file_id TEXT,
        status TEXT NOT NULL,
        collected INTEGER NOT NULL DEFAULT 0,
        n_requests INTEGER NOT NULL,
        detail TEXT,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL
    );
    CREATE TABLE batch_requests (
        batch TEXT NOT NULL REFERENCES batches (id),
        custom_id TEXT NOT NULL,
        key TEXT NOT NULL,
        kind TEXT NOT NULL,
        backend TEXT NOT NULL,
        model TEXT NOT NULL,
        request TEXT,
        state TEXT NOT NULL,
        PRIMARY KEY (batch, custom_id)
    );
    CREATE INDEX batch_requests_key ON batch_requests (key);
    CREATE INDEX batches_open ON batches (collected, provider, endpoint);
    """,
]
_MARKED = 2
"""The schema version from which a store carries APPLICATION_ID."""
_V1_TABLES = {
    "calls": ("key", "kind", "backend", "model", "request", "text", "top_logprobs", "prompt_tokens",
              "completion_tokens", "finish_reason", "latency_s", "cost_usd", "created_at"),
    "failures": ("id", "key", "kind", "model", "error", "attempts", "created_at"),
    "sqlite_sequence": ("name", "seq"),
}
"""The tables of a store made by the first migration alone (before the application id)."""
_IN_OPEN_BATCH = ("SELECT r.batch FROM batch_requests r JOIN batches b ON b.id = r.batch "
                  "WHERE r.key = ? AND b.collected = 0 LIMIT 1")
"""The batch, not collected yet, that holds a request (by its key)."""


def request_key(payload: dict[str, Any]) -> str:
    """Stable hash of a request given as a dict (keys sorted)."""
    return request_hash(json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str))


def request_hash(request_json: str) -> str:
    """SHA-256 of a request's canonical JSON text."""
    return hashlib.sha256(request_json.encode()).hexdigest()


def _statements(sql: str) -> list[str]:
    """The statements of a migration, one by one (``executescript`` would commit the transaction)."""
    out, buf = [], ""
    for part in sql.split(";"):
        buf += part + ";"
        if sqlite3.complete_statement(buf):
            if buf.strip(" \n\t;"):
                out.append(buf.strip())
            buf = ""
    if buf.strip(" \n\t;"):
        out.append(buf.strip())
    return out


def _busy(exc: sqlite3.Error) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    return (code is not None and code & 0xFF in (5, 6)) or "locked" in str(exc) or "busy" in str(exc)


def _number(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"expected a number, got {value!r}")
    return float(value)


def _resolve(path: str | Path | None) -> Path | None:
    """The file of ``path`` (``~`` expanded); None for a store in memory (``None`` or ``":memory:"``)."""
    if path is None or (isinstance(path, str) and path == ":memory:"):
        return None
    if isinstance(path, str) and not path.strip():
        raise StoreError("the path is empty; pass None (or ':memory:') for a store in memory")
    try:
        return Path(path).expanduser()
    except RuntimeError as exc:  # no home folder to expand ~ to
        raise StoreError(f"cannot expand ~: {exc}", path=path) from exc


class Store:
    """SQLite store at ``path`` (created with its folder; ``~`` expanded).

    ``None`` or ``":memory:"`` keeps it in memory; any other string or Path is a file. Raises
    :class:`~prefjudge.errors.StoreError` naming the path when the file cannot be used as a store.
    """

    def __init__(self, path: str | Path | None = None):
        self.path = _resolve(path)
        if self.path is None:
            self._db = sqlite3.connect(":memory:", check_same_thread=False, isolation_level=None)
            self._migrate(0)
            return
        self._db = self._connect(self.path)
        try:
            self._prepare()
        except BaseException:
            self._db.close()
            raise

    def _error(self, message: str) -> StoreError:
        return StoreError(message, path=self.path)

    def _connect(self, path: Path) -> sqlite3.Connection:
        """A connection to ``path`` after checks that write nothing (a refused file stays as it was)."""
        if path.is_dir():
            raise self._error("is a folder, not a store file; give a file path such as runs/prefs.db")
        if path.exists():
            if not path.is_file():
                raise self._error("is not a regular file")
            if not os.access(path, os.W_OK) or not path.stat().st_mode & 0o222:
                raise self._error("is read-only; a store must be writable (copy it, or make it writable)")
            if not os.access(path.parent, os.W_OK):
                raise self._error("its folder is read-only; SQLite needs to write the -wal and -shm files next to it")
        else:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise self._error(f"cannot create its folder {path.parent}: {exc.strerror or exc}") from exc
        try:  # the absolute path: a file named ":memory:" or "file:..." is a file, not a special name
            return sqlite3.connect(str(path.absolute()), check_same_thread=False, isolation_level=None,
                                   timeout=BUSY_TIMEOUT_S)
        except sqlite3.Error as exc:
            raise self._error(f"cannot open: {exc}") from exc

    def _prepare(self) -> None:
        """Check the file is a prefjudge store (or empty), migrate it, then switch it to WAL."""
        try:
            self._db.execute("BEGIN")  # one snapshot for the checks; reads only
            try:
                version = self._check()
            finally:
                self._db.execute("COMMIT")
            if version < len(MIGRATIONS):
                self._db.execute("BEGIN IMMEDIATE")  # one writer migrates; the others wait, then see it done
                try:
                    self._migrate_in_transaction(self._check())
                    self._db.execute("COMMIT")
                except BaseException:
                    self._db.execute("ROLLBACK")
                    raise
            self._use_wal()
            self._db.execute("PRAGMA synchronous=NORMAL")
        except sqlite3.DatabaseError as exc:
            if "not a database" in str(exc):
                raise self._error("not a prefjudge store (not an SQLite file); choose another path") from exc
            raise self._error(f"cannot be opened as a store: {exc}") from exc

    def _check(self) -> int:
        """The schema version of the store; StoreError when it is not a prefjudge store or is newer."""
        db = self._db
        (app_id,) = db.execute("PRAGMA application_id").fetchone()
        (version,) = db.execute("PRAGMA user_version").fetchone()
        if app_id == APPLICATION_ID and version >= _MARKED:
            if version > len(MIGRATIONS):
                raise self._error(f"its schema version {version} is newer than this prefjudge knows "
                                  f"({len(MIGRATIONS)}); upgrade prefjudge to use this store")
            return version
        names = [n for (n,) in db.execute("SELECT name FROM sqlite_master")]
        if app_id == 0 and version == 0 and not names:
            return 0  # new or empty
        if app_id == 0 and version == 1:
            tables = {n: tuple(c for (c,) in db.execute("SELECT name FROM pragma_table_info(?)", (n,)))
                      for (n,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            if all(tables.get(t) == cols for t, cols in _V1_TABLES.items() if t != "sqlite_sequence") \
                    and set(tables) <= set(_V1_TABLES):
                return 1  # made by the first migration, before the application id
        raise self._error("not a prefjudge store (another application's SQLite file?); choose another path")

    def _migrate(self, version: int) -> None:
        self._db.execute("BEGIN IMMEDIATE")
        self._migrate_in_transaction(version)
        self._db.execute("COMMIT")

    def _migrate_in_transaction(self, version: int) -> None:
        for i, sql in enumerate(MIGRATIONS[version:], start=version + 1):
            for statement in _statements(sql):
                self._db.execute(statement)
            self._db.execute(f"PRAGMA user_version = {i}")

    def _use_wal(self) -> None:
        """WAL, retried while another process holds the lock (switching can report "locked" at once)."""
        deadline = time.monotonic() + BUSY_TIMEOUT_S
        while True:
            try:
                (mode,) = self._db.execute("PRAGMA journal_mode=WAL").fetchone()
                break
            except sqlite3.OperationalError as exc:
                if not _busy(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.01 + 0.05 * random.random())
        if mode != "wal":
            log.warning("store %s: WAL is not available here (journal mode %s); processes sharing it wait longer",
                        self.path, mode)

    def get(self, key: str) -> tuple[Completion, dict] | None:
        """The stored completion for ``key`` and its bookkeeping (latency, cost), or None.

        A row that cannot be read back (damaged JSON, wrong types: the file was edited or damaged
        outside prefjudge) is a :class:`StoreError` naming the path and the key, and nothing is
        changed: a store that was tampered with is not trusted silently. :meth:`forget` removes the
        row, and the next run makes that one call again.
        """
        try:
            row = self._db.execute(
                "SELECT text, top_logprobs, prompt_tokens, completion_tokens, finish_reason, latency_s, cost_usd "
                "FROM calls WHERE key = ?", (key,),
            ).fetchone()
        except sqlite3.Error as exc:
            raise self._error(f"cannot read call {key}: {exc}") from exc
        if row is None:
            return None
        try:
            completion = Completion(
                text=row[0], top_logprobs=json.loads(row[1]) if row[1] is not None else None,
                prompt_tokens=row[2], completion_tokens=row[3], finish_reason=row[4],
            )
            return completion, {"latency_s": _number(row[5]), "cost_usd": _number(row[6])}
        except (ValueError, TypeError) as exc:
            detail = str(exc).splitlines()[0]
            raise self._error(
                f"stored call {key} is damaged ({detail}); nothing was changed. The store was edited or "
                f"damaged outside prefjudge: check it, then remove that row with "
                f"prefjudge.judging.store.Store({str(self.path)!r}).forget({key!r}) and rerun (only that call is made again)"
            ) from None

    def forget(self, *keys: str) -> int:
        """Remove finished calls (e.g. a damaged row); the next run makes them again. Returns the count."""
        try:
            cur = self._db.executemany("DELETE FROM calls WHERE key = ?", [(k,) for k in keys])
        except sqlite3.Error as exc:
            raise self._error(f"cannot remove calls: {exc}") from exc
        return cur.rowcount

    def put(self, key: str, *, kind: str, backend: str, model: str, request_json: str, completion: Completion,
            latency_s: float | None, cost_usd: float | None) -> None:
        """Record a finished call. Committed at once (autocommit), so a kill loses nothing finished.

        Waits up to BUSY_TIMEOUT_S while another process writes.
        """
        try:
            self._db.execute(
                "INSERT OR REPLACE INTO calls VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    key, kind, backend, model, request_json, completion.text,
                    json.dumps(completion.top_logprobs) if completion.top_logprobs is not None else None,
                    completion.prompt_tokens, completion.completion_tokens, completion.finish_reason,
                    latency_s, cost_usd, time.time(),
                ),
            )
        except sqlite3.Error as exc:
            raise self._error(f"cannot record call {key}: {exc}") from exc

    def put_failure(self, key: str, *, kind: str, model: str, error: str, attempts: int) -> None:
        try:
            self._db.execute(
                "INSERT INTO failures (key, kind, model, error, attempts, created_at) VALUES (?,?,?,?,?,?)",
                (key, kind, model, error, attempts, time.time()),
            )
        except sqlite3.Error as exc:
            raise self._error(f"cannot record the failure of call {key}: {exc}") from exc

    # -- provider batches (prefjudge.judging.batch) --------------------------------------------------
    def _write(self, what: str, work) -> Any:
        """Run ``work()`` in one write transaction (rolled back when it raises)."""
        try:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                result = work()
                self._db.execute("COMMIT")
                return result
            except BaseException:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise
        except sqlite3.Error as exc:
            raise self._error(f"cannot record {what}: {exc}") from exc

    def claim_batch(self, submission: str, *, provider: str, endpoint: str,
                    items: list[tuple[str, str, str, str, str, str]]) -> list[str]:
        """Record the batch ``submission`` before it is sent (status ``submitting``, no provider id
        yet) with its requests ``items`` = (custom_id, key, kind, backend, model, request JSON), leaving
        out each request already in another batch whose results were not collected. The check and the
        write are one transaction, so two processes never claim the same request. Returns the
        custom_ids kept (nothing is recorded when none is)."""
        kept: list[tuple] = []

        def claim() -> None:
            for item in items:
                if self._db.execute(_IN_OPEN_BATCH, (item[1],)).fetchone() is None:
                    kept.append((submission, *item, "submitted"))
            if kept:
                now = time.time()
                self._db.execute("INSERT INTO batches (id, provider, endpoint, status, n_requests, created_at, updated_at) "
                                 "VALUES (?,?,?,?,?,?,?)", (submission, provider, endpoint, "submitting", len(kept), now, now))
                self._db.executemany("INSERT INTO batch_requests VALUES (?,?,?,?,?,?,?,?)", kept)

        self._write(f"batch {submission}", claim)
        return [row[1] for row in kept]

    def update_batch(self, submission: str, **fields: Any) -> None:
        """Set ``batch_id``, ``input_file_id``, ``status``, ``collected`` or ``detail`` (a dict, kept as
        JSON) of a recorded batch."""
        unknown = set(fields) - {"batch_id", "input_file_id", "status", "collected", "detail"}
        if unknown:
            raise ValueError(f"unknown batch field(s): {sorted(unknown)}")
        if "detail" in fields and fields["detail"] is not None:
            fields["detail"] = json.dumps(fields["detail"], sort_keys=True, default=str)
        sets = ", ".join(f"{name} = ?" for name in fields)
        self._write(f"batch {submission}", lambda: self._db.execute(
            f"UPDATE batches SET {sets}, updated_at = ? WHERE id = ?", (*fields.values(), time.time(), submission)))

    def batch_records(self, *, open_only: bool = False, provider: str | None = None,
                      endpoint: str | None = None) -> list[dict]:
        """Recorded batches (oldest first) as dicts of their columns (``detail`` decoded); ``open_only``:
        those whose results were not collected yet."""
        where, args = [], []
        if open_only:
            where.append("collected = 0")
        for name, value in (("provider", provider), ("endpoint", endpoint)):
            if value is not None:
                where.append(f"{name} = ?")
                args.append(value)
        sql = "SELECT * FROM batches" + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY created_at, id"
        cur = self._db.execute(sql, args)
        names = [d[0] for d in cur.description]
        out = []
        for row in cur.fetchall():
            record = dict(zip(names, row))
            try:
                record["detail"] = json.loads(record["detail"]) if record["detail"] else {}
            except ValueError:
                record["detail"] = {"unreadable": record["detail"]}
            out.append(record)
        return out

    def batch_request(self, submission: str, custom_id: str) -> dict | None:
        """One request of a recorded batch (key, kind, backend, model, request JSON, state), or None."""
        cur = self._db.execute("SELECT * FROM batch_requests WHERE batch = ? AND custom_id = ?", (submission, custom_id))
        found = cur.fetchone()
        return None if found is None else dict(zip([d[0] for d in cur.description], found))

    def batch_requests(self, submission: str, state: str | None = None) -> list[dict]:
        """The requests of a recorded batch (those in ``state`` if given), in the order recorded."""
        sql = "SELECT * FROM batch_requests WHERE batch = ?" + (" AND state = ?" if state is not None else "")
        cur = self._db.execute(sql + " ORDER BY rowid", (submission,) if state is None else (submission, state))
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row)) for row in cur.fetchall()]

    def set_batch_request_states(self, submission: str, states: list[tuple[str, str]]) -> None:
        """Set the state of requests of a batch from (custom_id, state) pairs; a request that
        ``succeeded`` drops its request JSON (the call row holds it)."""
        if states:
            self._write(f"the requests of batch {submission}", lambda: self._db.executemany(
                "UPDATE batch_requests SET state = ?, request = CASE WHEN ? = 'succeeded' THEN NULL ELSE request END "
                "WHERE batch = ? AND custom_id = ?", [(s, s, submission, c) for c, s in states]))

    def open_batch_of(self, key: str) -> str | None:
        """The recorded batch holding request ``key`` whose results were not collected yet, or None."""
        found = self._db.execute(_IN_OPEN_BATCH, (key,)).fetchone()
        return None if found is None else found[0]

    def count(self, table: str = "calls") -> int:
        if table not in ("calls", "failures"):
            raise ValueError(table)
        return self._db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]

    def rows(self, table: str = "calls"):
        """Every row of ``calls`` or ``failures`` as dicts of its columns, streamed (for merging stores)."""
        if table not in ("calls", "failures"):
            raise ValueError(table)
        cur = self._db.execute(f"SELECT * FROM {table}")
        names = [d[0] for d in cur.description]
        for row in cur:
            yield dict(zip(names, row))

    def row(self, key: str) -> dict | None:
        """The raw ``calls`` row of ``key`` (every column), or None."""
        cur = self._db.execute("SELECT * FROM calls WHERE key = ?", (key,))
        found = cur.fetchone()
        return None if found is None else dict(zip([d[0] for d in cur.description], found))

    def insert_rows(self, table: str, rows: list[dict]) -> None:
        """Insert rows read by :meth:`rows` from another store, in one transaction (``failures``
        get new ids)."""
        if table not in ("calls", "failures") or not rows:
            return
        cols = [c for c in rows[0] if not (table == "failures" and c == "id")]
        sql = f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})"
        try:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.executemany(sql, [tuple(r[c] for c in cols) for r in rows])
            self._db.execute("COMMIT")
        except sqlite3.Error as exc:
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            raise self._error(f"cannot insert {len(rows)} {table} rows: {exc}") from exc

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
