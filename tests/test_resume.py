"""A run killed mid-way resumes from the SQLite store without repeating a finished call."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import prefjudge as pj
from prefjudge.judging.store import Store
from prefjudge.testing import SimJudge, SimServer, make_demo_pairs

N_PAIRS = 150
CONCURRENCY = 4


def _script(tmp_path, base_url, store):
    code = f"""
        import json, prefjudge as pj
        pairs = json.load(open({str(tmp_path / 'pairs.json')!r}))
        judges = [pj.Judge("gpt-sim", base_url={base_url!r}, api_key="x", max_concurrency={CONCURRENCY}),
                  pj.Judge("llama-sim", base_url={base_url!r}, api_key="x", max_concurrency={CONCURRENCY})]
        pj.rank_pairs(pairs, judges=judges, order="both", seed=0, store={str(store)!r}, progress=False)
    """
    path = tmp_path / "run.py"
    path.write_text(textwrap.dedent(code))
    return path


def test_kill_and_resume(tmp_path, sim_world):
    import json

    pairs = make_demo_pairs(N_PAIRS, seed=9, world=sim_world)
    (tmp_path / "pairs.json").write_text(json.dumps([{k: v for k, v in p.items() if not k.startswith("quality")} for p in pairs]))
    store = tmp_path / "runs" / "prefs.db"
    total = N_PAIRS * 2 * 2
    sims = [SimJudge(name="gpt-sim", latency_s=0.02), SimJudge(name="llama-sim", latency_s=0.02)]
    with SimServer(judges=sims, world=sim_world) as server:
        proc = subprocess.Popen([sys.executable, str(_script(tmp_path, server.base_url, store))], env={**os.environ})
        deadline = time.time() + 120
        while server.count_ok() < total // 3 and time.time() < deadline and proc.poll() is None:
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        answered_before = server.count_ok()
        assert 0 < answered_before < total, "the run must be killed mid-way"
        with Store(store) as st:
            stored = st.count()
        # at most the calls in flight at the kill were answered but not stored
        assert answered_before - stored <= 2 * CONCURRENCY
        server.clear_log()
        judges = [pj.Judge(n, base_url=server.base_url, api_key="x") for n in ("gpt-sim", "llama-sim")]
        result = pj.rank_pairs([{k: v for k, v in p.items() if not k.startswith("quality")} for p in pairs],
                               judges=judges, order="both", seed=0, store=store, progress=False)
        made_after = server.count_ok()
    # the rerun asked only for what the store did not hold: no finished call repeated
    assert made_after == total - stored
    assert result.meta["n_calls_cached"] == stored and result.meta["n_calls_made"] == total - stored
    assert len(result.judgments) == total and result.judgments["winner"].notna().all()
