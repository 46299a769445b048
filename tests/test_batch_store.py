"""The store's batch records: the schema migration keeps old stores readable; claims never overlap."""

from __future__ import annotations

import sqlite3

from prefjudge.judging.store import APPLICATION_ID, MIGRATIONS, Store, _statements
from prefjudge.types import Completion


def _item(key, custom_id=None):
    return (custom_id or key, key, "judge", "openai", "m", '{"call": {}, "messages": []}')


def test_a_store_from_before_batches_opens_and_keeps_its_calls(tmp_path):
    path = tmp_path / "v2.db"
    db = sqlite3.connect(path, isolation_level=None)
    for sql in MIGRATIONS[:2]:  # the schema before batch records
        for statement in _statements(sql):
            db.execute(statement)
    db.execute("PRAGMA user_version = 2")
    db.execute("INSERT INTO calls VALUES ('k','judge','openai','m','{}','[[A]]',NULL,5,1,'stop',0.2,0.001,0)")
    db.close()
    with Store(path) as st:
        completion, info = st.get("k")
        assert completion.text == "[[A]]" and info["cost_usd"] == 0.001
        assert st._db.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS) == 3
        assert st._db.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID
        assert st.batch_records() == []
        assert st.claim_batch("r1", provider="openai", endpoint="default", items=[_item("k2")]) == ["k2"]
    with Store(path) as st:  # reopened: nothing to migrate, the record is there
        assert [r["id"] for r in st.batch_records(open_only=True)] == ["r1"]


def test_a_request_is_claimed_by_one_open_batch_at_a_time(tmp_path):
    with Store(tmp_path / "s.db") as st, Store(tmp_path / "s.db") as other:  # two connections: two processes
        assert st.claim_batch("r1", provider="openai", endpoint="e", items=[_item("a"), _item("b")]) == ["a", "b"]
        assert other.claim_batch("r2", provider="openai", endpoint="e", items=[_item("b"), _item("c")]) == ["c"]
        assert other.claim_batch("r3", provider="openai", endpoint="e", items=[_item("a")]) == []
        assert [r["id"] for r in st.batch_records()] == ["r1", "r2"]  # nothing recorded for an empty claim
        assert st.open_batch_of("b") == "r1"
        st.update_batch("r1", batch_id="batch_1", status="completed", collected=1, detail={"counts": {"total": 2}})
        assert st.open_batch_of("b") is None  # collected: its requests may be claimed again
        assert other.claim_batch("r4", provider="openai", endpoint="e", items=[_item("b", "cid-b")]) == ["cid-b"]
        (r1,) = [r for r in st.batch_records() if r["id"] == "r1"]
        assert r1["batch_id"] == "batch_1" and r1["detail"] == {"counts": {"total": 2}}
        st.set_batch_request_states("r1", [("a", "succeeded"), ("b", "expired")])
        rows = {r["custom_id"]: r for r in st.batch_requests("r1")}
        assert rows["a"]["state"] == "succeeded" and rows["a"]["request"] is None  # the call row holds it
        assert rows["b"]["state"] == "expired" and rows["b"]["request"] is not None
        assert st.batch_request("r4", "cid-b")["key"] == "b"
        st.put("a", kind="judge", backend="openai", model="m", request_json="{}", completion=Completion(text="x"),
               latency_s=None, cost_usd=None)
        assert st.count() == 1
