"""The call store under concurrent processes, on paths that are not a store, and with damaged rows."""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time

import pytest

import prefjudge as pj
from prefjudge.errors import PrefjudgeError, StoreError
from prefjudge.judging.store import APPLICATION_ID, MIGRATIONS, Store
from prefjudge.testing import SimJudge, SimServer, make_demo_pairs
from prefjudge.types import Completion

LEGACY_V1 = """
    CREATE TABLE calls (
        key TEXT PRIMARY KEY, kind TEXT NOT NULL, backend TEXT NOT NULL, model TEXT NOT NULL,
        request TEXT NOT NULL, text TEXT NOT NULL, top_logprobs TEXT, prompt_tokens INTEGER,
        completion_tokens INTEGER, finish_reason TEXT, latency_s REAL, cost_usd REAL, created_at REAL NOT NULL
    );
    CREATE TABLE failures (
        id INTEGER PRIMARY KEY AUTOINCREMENT, key TEXT NOT NULL, kind TEXT NOT NULL, model TEXT NOT NULL,
        error TEXT NOT NULL, attempts INTEGER, created_at REAL NOT NULL
    );
"""
ENV = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True", "TOKENIZERS_PARALLELISM": "false",
       "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}


def _put(st: Store, key: str, text: str = "[[A]]") -> None:
    st.put(key, kind="judge", backend="openai", model="m", request_json='{"x":1}',
           completion=Completion(text=text, top_logprobs=[{"A": -0.1}], prompt_tokens=3, completion_tokens=1),
           latency_s=0.5, cost_usd=0.001)


def _fingerprint(path):
    """Bytes, mtime and the folder listing: what a refused open must leave alone."""
    folder = sorted(p.name for p in path.parent.iterdir())
    if path.is_dir():
        return folder, None, None
    return folder, hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_mtime_ns


# -- 1. several processes ------------------------------------------------------------------------

WORKER = """
import os, sys, time
from prefjudge.judging.store import Store
from prefjudge.types import Completion
path, go, ready, me = sys.argv[1:5]
open(ready, "w").close()
while not os.path.exists(go):
    time.sleep(0.001)
with Store(path) as st:
    for i in range(5):
        st.put(f"{me}-{i}", kind="judge", backend="openai", model="m", request_json="{}",
               completion=Completion(text=me), latency_s=None, cost_usd=None)
"""


@pytest.mark.timeout(180)
def test_eight_processes_open_a_new_store_at_once(tmp_path):
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    path, go = tmp_path / "new" / "s.db", tmp_path / "go"
    n = 8
    procs = [subprocess.Popen([sys.executable, str(script), str(path), str(go), str(tmp_path / f"ready{i}"), f"p{i}"],
                              env=ENV, stderr=subprocess.PIPE, text=True) for i in range(n)]
    deadline = time.time() + 120
    while not all((tmp_path / f"ready{i}").exists() for i in range(n)) and time.time() < deadline:
        time.sleep(0.01)
    go.touch()  # released together: every process opens the same new path now
    errors = [p.communicate(timeout=120)[1] for p in procs]
    assert [p.returncode for p in procs] == [0] * n, "\n".join(errors)
    with Store(path) as st:
        assert st.count() == 5 * n
        assert st._db.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
        assert st._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


@pytest.mark.timeout(60)
def test_put_waits_for_another_writer(tmp_path):
    path = tmp_path / "s.db"
    with Store(path) as st:
        other = sqlite3.connect(path, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")  # another process in the middle of a write
        other.execute("INSERT INTO failures (key, kind, model, error, attempts, created_at) VALUES ('k','judge','m','e',1,0)")
        done = threading.Event()
        errors: list[BaseException] = []

        def write():
            try:
                _put(st, "waiting")
            except BaseException as exc:  # reported below
                errors.append(exc)
            done.set()

        t = threading.Thread(target=write)
        t.start()
        assert not done.wait(0.5), "put must wait while the other writer holds the lock"
        other.execute("COMMIT")
        other.close()
        t.join(30)
        assert errors == [] and st.get("waiting") is not None and st.count("failures") == 1


@pytest.mark.timeout(60)
def test_switch_to_wal_waits_for_a_writer(tmp_path):
    """Setting WAL while another connection holds the write lock reports "locked" at once: retried."""
    path = tmp_path / "s.db"
    with Store(path) as st:
        _put(st, "k")
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    assert other.execute("PRAGMA journal_mode=DELETE").fetchone()[0] == "delete"
    other.execute("BEGIN IMMEDIATE")
    timer = threading.Timer(0.5, lambda: other.execute("COMMIT"))
    timer.start()
    try:
        with Store(path) as st:
            assert st._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal" and st.count() == 1
    finally:
        timer.join()
        other.close()


def _rank_script(tmp_path, base_url, store, name, pairs):
    (tmp_path / f"{name}.json").write_text(json.dumps(pairs))
    code = f"""
        import json, prefjudge as pj
        pairs = json.load(open({str(tmp_path / f'{name}.json')!r}))
        judges = [pj.Judge("gpt-sim", base_url={base_url!r}, api_key="x", max_concurrency=4)]
        res = pj.rank_pairs(pairs, judges=judges, order="both", seed=0, store={str(store)!r}, progress=False)
        assert res.judgments["winner"].notna().all()
    """
    path = tmp_path / f"{name}.py"
    path.write_text(textwrap.dedent(code))
    return path


@pytest.mark.timeout(240)
def test_two_runs_write_one_store_at_once(tmp_path, sim_world):
    pairs = [{k: v for k, v in p.items() if not k.startswith("quality")}
             for p in make_demo_pairs(60, seed=4, world=sim_world)]
    store = tmp_path / "runs" / "shared.db"  # new: both processes also create it together
    with SimServer(judges=[SimJudge(name="gpt-sim", latency_s=0.0)], world=sim_world) as server:
        scripts = [_rank_script(tmp_path, server.base_url, store, "one", pairs[:40]),
                   _rank_script(tmp_path, server.base_url, store, "two", pairs[20:])]
        procs = [subprocess.Popen([sys.executable, str(s)], env=ENV, stderr=subprocess.PIPE, text=True) for s in scripts]
        errors = [p.communicate(timeout=200)[1] for p in procs]
        assert [p.returncode for p in procs] == [0, 0], "\n".join(errors)
        server.clear_log()
        judges = [pj.Judge("gpt-sim", base_url=server.base_url, api_key="x")]
        res = pj.rank_pairs(pairs, judges=judges, order="both", seed=0, store=store, progress=False)
        assert server.count_ok() == 0  # every call of the union was stored by one of the two runs
    assert res.meta["n_calls_cached"] == len(res.judgments) == 2 * len(pairs)


# -- 2. paths that are not a prefjudge store -----------------------------------------------------

def _other_app(path):
    db = sqlite3.connect(path)
    db.executescript("CREATE TABLE calls (id INTEGER PRIMARY KEY, phone TEXT, at TEXT);"
                     "INSERT INTO calls (phone, at) VALUES ('555', 'noon');")
    db.close()


def _text_file(path):
    path.write_text("name,score\nalice,3\n")


def _folder(path):
    path.mkdir()
    (path / "inside.txt").write_text("x")


def _future_schema(path):
    with Store(path) as st:
        _put(st, "k")
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 3}")
    db.close()


def _other_app_with_version(path):
    db = sqlite3.connect(path)
    db.executescript("CREATE TABLE calls (key TEXT PRIMARY KEY, text TEXT); PRAGMA user_version = 1;")
    db.close()


def _foreign_application_id(path):
    db = sqlite3.connect(path)
    db.executescript("PRAGMA application_id = 1234; CREATE TABLE t (x);")
    db.close()


@pytest.mark.parametrize("make, words", [
    (_folder, "folder"), (_text_file, "not a prefjudge store"), (_other_app, "not a prefjudge store"),
    (_other_app_with_version, "not a prefjudge store"), (_foreign_application_id, "not a prefjudge store"),
    (_future_schema, "newer"),
])
def test_not_a_store_is_refused_and_left_alone(tmp_path, make, words):
    path = tmp_path / "target.db"
    make(path)
    before = _fingerprint(path)
    with pytest.raises(StoreError) as err:
        Store(path)
    assert str(path) in str(err.value) and words in str(err.value)
    assert isinstance(err.value, PrefjudgeError) and err.value.path == path
    assert _fingerprint(path) == before


def test_future_schema_is_not_used(tmp_path):
    path = tmp_path / "s.db"
    _future_schema(path)
    with pytest.raises(StoreError):
        Store(path)
    db = sqlite3.connect(path)
    assert db.execute("SELECT COUNT(*) FROM calls").fetchone()[0] == 1  # untouched
    assert db.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS) + 3


def test_store_from_the_first_schema_still_opens(tmp_path):
    path = tmp_path / "old.db"
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.executescript(f"BEGIN; {LEGACY_V1}; PRAGMA user_version = 1; COMMIT;")
    db.execute("INSERT INTO calls VALUES ('k','judge','openai','m','{}','[[B]]','[{\"B\": -0.2}]',5,1,'stop',0.3,NULL,0)")
    db.close()
    with Store(path) as st:
        completion, info = st.get("k")
        assert completion.text == "[[B]]" and completion.top_logprobs == [{"B": -0.2}] and info["latency_s"] == 0.3
        assert st._db.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID
        assert st._db.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
        _put(st, "k2")
    with Store(path) as st:
        assert st.count() == 2


@pytest.mark.parametrize("column, value", [
    ("top_logprobs", "[{\"A\": -0.1"),  # broken JSON
    ("top_logprobs", "{\"A\": -0.1}"),  # JSON, wrong shape
    ("top_logprobs", "[{\"A\": \"high\"}]"),
    ("text", b"\xff\xfe"),  # a BLOB that is no text
    ("completion_tokens", 2.5),
    ("prompt_tokens", "many"),
    ("latency_s", "slow"),
])
def test_damaged_row_is_a_clear_error_and_nothing_changes(tmp_path, column, value):
    path = tmp_path / "s.db"
    with Store(path) as st:
        _put(st, "good")
        _put(st, "bad")
        st._db.execute(f"UPDATE calls SET {column} = ? WHERE key = 'bad'", (value,))
    before = _bytes_and_rows(path)
    with Store(path) as st:
        with pytest.raises(StoreError) as err:
            st.get("bad")
        assert str(path) in str(err.value) and "'bad'" in str(err.value) and "forget" in str(err.value)
        assert st.get("good") is not None
    assert _bytes_and_rows(path) == before
    with Store(path) as st:
        assert st.forget("bad") == 1  # the remedy the message names
        assert st.get("bad") is None
        _put(st, "bad")  # the call made again
        assert st.get("bad")[0].text == "[[A]]"


def _bytes_and_rows(path):
    return hashlib.sha256(path.read_bytes()).hexdigest(), _rows(path)


def _rows(path):
    db = sqlite3.connect(path)
    try:
        return db.execute("SELECT key, top_logprobs, text FROM calls ORDER BY key").fetchall()
    finally:
        db.close()


@pytest.mark.timeout(120)
def test_damaged_row_stops_the_rerun_clearly_then_forget_remakes_only_that_call(tmp_path, sim_world):
    pairs = [{k: v for k, v in p.items() if not k.startswith("quality")}
             for p in make_demo_pairs(10, seed=5, world=sim_world)]
    store = tmp_path / "s.db"
    with SimServer(judges=[SimJudge(name="gpt-sim", latency_s=0.0)], world=sim_world) as server:
        judges = [pj.Judge("gpt-sim", base_url=server.base_url, api_key="x")]
        first = pj.rank_pairs(pairs, judges=judges, order="fixed", seed=0, store=store, progress=False)
        db = sqlite3.connect(store, isolation_level=None)
        (key,) = db.execute("SELECT key FROM calls WHERE rowid = (SELECT MIN(rowid) FROM calls)").fetchone()
        db.execute("UPDATE calls SET top_logprobs = '[{oops' WHERE key = ?", (key,))
        db.close()
        server.clear_log()
        with pytest.raises(StoreError, match=key):
            pj.rank_pairs(pairs, judges=judges, order="fixed", seed=0, store=store, progress=False)
        with Store(store) as st:
            st.forget(key)
        server.clear_log()
        again = pj.rank_pairs(pairs, judges=judges, order="fixed", seed=0, store=store, progress=False)
        assert server.count_ok() == 1
    assert again.meta["n_calls_cached"] == len(pairs) - 1
    assert list(again.judgments["winner"]) == list(first.judgments["winner"])
    with Store(store) as st:
        assert all(st.get(k) is not None for (k,) in st._db.execute("SELECT key FROM calls"))


# -- 3. empty files, unusable paths --------------------------------------------------------------

def test_empty_file_becomes_a_store(tmp_path):
    path = tmp_path / "empty.db"
    path.touch()
    with Store(path) as st:
        _put(st, "k")
    with Store(path) as st:
        assert st.count() == 1


def test_parent_that_cannot_be_created(tmp_path):
    (tmp_path / "file").write_text("x")
    path = tmp_path / "file" / "sub" / "s.db"
    with pytest.raises(StoreError) as err:
        Store(path)
    assert str(path) in str(err.value)


def test_read_only_store_is_refused(tmp_path):
    path = tmp_path / "s.db"
    with Store(path) as st:
        _put(st, "k")
    path.chmod(0o444)
    before = _fingerprint(path)
    try:
        with pytest.raises(StoreError) as err:
            Store(path)
        assert str(path) in str(err.value) and "read-only" in str(err.value)
        assert _fingerprint(path) == before
    finally:
        path.chmod(0o644)


# -- odd paths -----------------------------------------------------------------------------------

def test_tilde_is_the_home_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    with Store("~/runs/s.db") as st:
        _put(st, "k")
        assert st.path == tmp_path / "home" / "runs" / "s.db"
    assert (tmp_path / "home" / "runs" / "s.db").is_file() and not (tmp_path / "~").exists()


def test_unicode_path(tmp_path):
    path = tmp_path / "ü" / "日本" / "ü.db"
    with Store(path) as st:
        _put(st, "k")
    with Store(str(path)) as st:
        assert st.get("k")[0].text == "[[A]]" and st.path == path


def test_memory_string_is_not_a_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with Store(":memory:") as st:
        _put(st, "k")
        assert st.path is None and st.count() == 1
    assert list(tmp_path.iterdir()) == []


def test_empty_path_is_refused():
    with pytest.raises(StoreError):
        Store("")
