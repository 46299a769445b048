"""A batch prefill killed at any point resumes from the store: no request submitted twice, every result landed."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections import Counter
from pathlib import Path

import pytest
from _batch_helpers import MODEL, judge_through_engine, load_pairs, make_judge, prefill_sync, save_pairs

import prefjudge.judging.batch as batch_module
from prefjudge.judging.store import Store
from prefjudge.testing import SimJudge, SimServer, make_demo_pairs
from prefjudge.testing.batch_api import BatchSimConfig

PROVIDERS = ["openai", "anthropic"]
TESTS = Path(__file__).resolve().parent


def _script(tmp_path, provider, base_url, store, pairs_file):
    code = f"""
        import sys
        sys.path.insert(0, {str(TESTS)!r})
        from _batch_helpers import load_pairs, make_judge, prefill_sync
        judge = make_judge({provider!r}, {base_url!r})
        prefill_sync({str(store)!r}, judge, load_pairs({str(pairs_file)!r}), poll_interval_s=0.05, timeout_s=600)
    """
    path = tmp_path / "run.py"
    path.write_text(textwrap.dedent(code))
    return path


@pytest.mark.parametrize("provider", PROVIDERS)
def test_kill_while_the_batch_runs_then_resume(tmp_path, sim_world, provider):
    pairs_file = save_pairs(make_demo_pairs(8, seed=11, world=sim_world), tmp_path / "pairs.json")
    pairs = load_pairs(pairs_file)
    store = tmp_path / "runs" / "prefs.db"
    sim = SimJudge(name=MODEL[provider])
    with SimServer(judges=[sim], world=sim_world, batch=BatchSimConfig(hold=True)) as server:
        proc = subprocess.Popen([sys.executable, str(_script(tmp_path, provider, server.base_url, store, pairs_file))],
                                env={**os.environ})
        deadline = time.time() + 120
        while server.batches.retrieves() < 3 and time.time() < deadline and proc.poll() is None:
            time.sleep(0.05)
        assert proc.poll() is None, "the prefill must still be waiting for its batch"
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        (created,) = server.batches.batches
        assert server.count_ok() == 0  # nothing answered yet
        with Store(store) as st:  # the batch was recorded before the wait began
            (record,) = st.batch_records(open_only=True)
            assert record["batch_id"] == created and record["n_requests"] == 16
        server.batches.release()
        judge = make_judge(provider, server.base_url)
        summary, keys = prefill_sync(store, judge, pairs)
        submitted = server.batches.submitted()
        server.clear_log()
        outcomes = asyncio.run(judge_through_engine(store, judge, pairs))
        assert server.log == []
    assert (summary.resumed_batches, summary.awaited, summary.submitted, summary.succeeded) == (1, 16, 0, 16)
    assert summary.batch_ids == [created] and summary.batches[0].resumed
    assert submitted == Counter({k: 1 for k in keys})  # no request submitted twice
    assert all(o.cached and o.error is None for o in outcomes)
    with Store(store) as st:
        assert st.count() == 16 and st.batch_records(open_only=True) == []


class _Killed(BaseException):
    """Stands for SIGKILL at one exact point (inside the process, so the point is certain)."""


def _die_when_recording_the_batch_id(monkeypatch):
    original = Store.update_batch

    def update_batch(self, submission, **fields):
        if "batch_id" in fields:
            raise _Killed()
        return original(self, submission, **fields)

    monkeypatch.setattr(Store, "update_batch", update_batch)
    return lambda: monkeypatch.setattr(Store, "update_batch", original)


def test_killed_after_creating_an_openai_batch_before_recording_its_id(tmp_path, sim_world, monkeypatch):
    """The record names the batch in its metadata, so the next call finds it instead of resubmitting."""
    pairs = load_pairs(save_pairs(make_demo_pairs(4, seed=2, world=sim_world), tmp_path / "pairs.json"))
    with SimServer(judges=[SimJudge(name=MODEL["openai"])], world=sim_world) as server:
        judge = make_judge("openai", server.base_url)
        restore = _die_when_recording_the_batch_id(monkeypatch)
        with pytest.raises(_Killed):
            prefill_sync(tmp_path / "s.db", judge, pairs)
        restore()
        with Store(tmp_path / "s.db") as st:
            (record,) = st.batch_records(open_only=True)
        assert record["batch_id"] is None and record["status"] == "submitting" and record["input_file_id"]
        summary, keys = prefill_sync(tmp_path / "s.db", judge, pairs)
        submitted = server.batches.submitted()
    assert (summary.resumed_batches, summary.submitted, summary.succeeded) == (1, 0, 8)
    assert submitted == Counter({k: 1 for k in keys})


def test_killed_after_creating_an_anthropic_batch_before_recording_its_id(tmp_path, sim_world, monkeypatch):
    """Anthropic cannot find a batch by a tag: the requests stay claimed (another process may be
    submitting them) until the record is stale, then they are submitted again."""
    pairs = load_pairs(save_pairs(make_demo_pairs(4, seed=2, world=sim_world), tmp_path / "pairs.json"))
    with SimServer(judges=[SimJudge(name=MODEL["anthropic"])], world=sim_world) as server:
        judge = make_judge("anthropic", server.base_url)
        restore = _die_when_recording_the_batch_id(monkeypatch)
        with pytest.raises(_Killed):
            prefill_sync(tmp_path / "s.db", judge, pairs)
        restore()
        fresh, keys = prefill_sync(tmp_path / "s.db", judge, pairs)
        assert (fresh.submitted, fresh.awaited, fresh.pending, fresh.succeeded) == (0, 8, 8, 0)
        monkeypatch.setattr(batch_module, "STALE_CLAIM_S", 0.0)
        stale, _ = prefill_sync(tmp_path / "s.db", judge, pairs)
        submitted = server.batches.submitted()
    assert (stale.submitted, stale.succeeded, stale.failed) == (8, 8, 0)
    assert "never got a provider id" in stale.problems[0]
    assert submitted == Counter({k: 2 for k in keys})  # the lost batch and the new one
    with Store(tmp_path / "s.db") as st:
        statuses = sorted(r["status"] for r in st.batch_records())
    assert statuses == ["abandoned", "ended"]
