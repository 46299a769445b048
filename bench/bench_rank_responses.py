"""Ranking N candidates per prompt: efficient strategies against a full round robin, on the simulated jury.

For each prompt, N answers are drawn from the three demo generators (latent qualities registered
in the simulator's world) and ranked by the three-judge demo jury (default_sim_jury: noise 0.5 /
0.7 / 1.2, position, length and self bias) over real loopback HTTP. The round robin runs first;
the efficient strategies then run against the same store, so every comparison they share with it
is the very same judge call (same pair id, display order and verdict). We report comparisons and
judge calls per prompt, and how often each strategy picks the same best and worst answer as the
round robin (exactly; and counting a pick as right when the round robin ties it, to the last
digit, with its own pick), and as the latent truth, with Wilson 95% intervals.

``--ceiling`` adds two reference rows for the hard-verdict settings: a second round robin with
fresh verdicts (other seed; how reproducible the round robin's own pick is), and an oracle
planner that knows every judge's exact verdict probabilities for every pair and display order
(the simulator's latent qualities and biases) but, like any strategy, sees only the verdicts of
the 2N comparisons it chooses (same criterion as ``"adaptive"``; its pick is the most probable
round-robin outcome under the exact probabilities): what a strategy could reach at best.

    .venv/bin/python bench/bench_rank_responses.py --prompts 200 --n 8 --ceiling
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
SETTINGS = [("verdict", "random"), ("verdict", "both"), ("logprob", "random")]
TEMPLATES = {"verdict": "pairwise", "logprob": "pairwise_logprob"}
SCORE = {"first": 1.0, "tie": 0.5, "second": 0.0}


def make_candidates(world, n_prompts: int, n: int, seed: int) -> list[dict]:
    from prefjudge.testing import make_demo_candidates

    return make_demo_candidates(world, n_prompts, n, seed, key=("bench-rank",))


def truth(cands: list[dict]) -> dict[str, tuple[int, int]]:
    import pandas as pd

    out = {}
    for pid, g in pd.DataFrame(cands).groupby("prompt_id", sort=False):
        q = g["quality"].tolist()
        out[pid] = (q.index(max(q)), q.index(min(q)))
    return out


def share(hits: int, n: int) -> str:
    from prefjudge.stats.intervals import wilson

    lo, hi = wilson(hits, n)
    return f"{100 * hits / n:.1f}% ({100 * lo:.0f}-{100 * hi:.0f})"


def co_extremes(cand) -> dict[str, tuple[set[int], set[int]]]:
    """Per prompt: the candidates tied (to TIE_TOL) with the round robin's strongest, and with its weakest."""
    from prefjudge.stats.posterior import TIE_TOL

    out = {}
    for pid, g in cand.groupby("prompt_id", sort=False):
        s, k = g["strength"], g["candidate"]
        out[pid] = (set(k[s >= s.max() - TIE_TOL]), set(k[s <= s.min() + TIE_TOL]))
    return out


def run_setting(mode: str, order: str, cands: list[dict], world, seed: int, store: Path, ceiling: bool) -> list[dict]:
    import prefjudge as pj
    from prefjudge.curate import rank_responses
    from prefjudge.testing import SimServer, default_sim_jury

    rows, ref = [], None
    with SimServer(judges=default_sim_jury(), world=world, seed=seed) as server:
        judges = [pj.Judge(j.name, base_url=server.base_url, api_key="x", template=TEMPLATES[mode]) for j in default_sim_jury()]
        for strategy in ("round_robin", "knockout", "adaptive"):
            r = rank_responses(cands, judges, strategy=strategy, order=order, seed=seed, store=store, progress=False)
            sel = r.selections.set_index("prompt_id")
            if ref is None:
                ref = {"sel": sel, "ties": co_extremes(r.candidates), "ranking": r}
            rows.append({"mode": mode, "order": order, "strategy": strategy, "sel": sel, "ref": ref,
                         "new_calls": r.meta["n_calls_made"]})
    if ceiling and mode == "verdict":
        rows.append(_second_round_robin(mode, order, cands, world, seed, store, ref))
        rows.append(_oracle(mode, order, cands, world, ref, seed))
    return rows


def _second_round_robin(mode, order, cands, world, seed, store, ref) -> dict:
    """The round robin again with fresh verdicts (server and order seeds + 1)."""
    import prefjudge as pj
    from prefjudge.curate import rank_responses
    from prefjudge.testing import SimServer, default_sim_jury

    with SimServer(judges=default_sim_jury(), world=world, seed=seed + 1) as server:
        judges = [pj.Judge(j.name, base_url=server.base_url, api_key="x", template=TEMPLATES[mode]) for j in default_sim_jury()]
        r = rank_responses(cands, judges, strategy="round_robin", order=order, seed=seed + 1,
                           store=store.with_name(store.stem + "-fresh.db"), progress=False)
    return {"mode": mode, "order": order, "strategy": "round robin, fresh verdicts", "sel": r.selections.set_index("prompt_id"),
            "ref": ref, "new_calls": r.meta["n_calls_made"]}


def outcome_laws(ranking, cands: list[dict], world) -> dict[str, tuple[list[float], list[float]]]:
    """Per comparison id: the exact distribution of its outcome (share of verdicts for a) under the simulator."""
    from prefjudge.testing import default_sim_jury

    jury = {j.name: j for j in default_sim_jury()}
    pairs = ranking.pairs.set_index("id")
    laws = {}
    for pair_id, rows in ranking.judgments.groupby("pair_id", sort=False):
        p = pairs.loc[pair_id]
        law = {0.0: 1.0}
        for judge, order in zip(rows["judge"], rows["order"]):
            a, b = p["response_a"], p["response_b"]
            first, second = (a, b) if order == "ab" else (b, a)
            law = _convolve(law, {(SCORE[c] if order == "ab" else 1.0 - SCORE[c]): q
                                  for c, q in _verdict_law(jury[judge], world, p["prompt"], first, second).items()})
        k = len(rows)
        laws[pair_id] = ([v / k for v in law], list(law.values()))
    return laws


def _verdict_law(judge, world, question: str, first: str, second: str) -> dict[str, float]:
    """P(first), P(tie), P(second) for one simulated judge (see SimJudge.decide)."""
    d0 = judge.margin(world, question, first, second)
    phi = lambda z: 0.5 * (1.0 + math.erf(z / math.sqrt(2.0)))  # noqa: E731
    sd, tm, pb = max(judge.noise, 1e-12), judge.tie_margin, judge.position_bias
    p_first = pb + (1 - pb) * (1 - phi((tm - d0) / sd))
    p_tie = (1 - pb) * (phi((tm - d0) / sd) - phi((-tm - d0) / sd))
    return {"first": p_first, "tie": p_tie, "second": max(0.0, 1.0 - p_first - p_tie)}


def _convolve(law: dict[float, float], step: dict[float, float]) -> dict[float, float]:
    out: dict[float, float] = {}
    for v, p in law.items():
        for w, q in step.items():
            out[round(v + w, 9)] = out.get(round(v + w, 9), 0.0) + p * q
    return out


def _oracle(mode, order, cands, world, ref, seed: int) -> dict:
    """Replay the oracle planner over the round robin's verdicts (it pays for 2N of them)."""
    import numpy as np
    import pandas as pd

    from prefjudge.stats.posterior import round_robin_extremes

    r = ref["ranking"]
    laws = outcome_laws(r, cands, world)
    outcomes, calls = r.outcomes, r.judgments["pair_id"].value_counts()
    by_prompt: dict[str, dict] = {}
    for row in r.pairs.to_dict("records"):
        oc = outcomes.loc[row["id"]]
        by_prompt.setdefault(row["prompt_id"], {})[(int(row["cand_a"]), int(row["cand_b"]))] = (
            float(oc["p_a"]), int(oc["n_verdicts"]), row["id"])
    rows = []
    for pid, comps in by_prompt.items():
        n = max(j for _, j in comps) + 1
        planner = _oracle_planner(n, seed, pid, {pair: laws[c[2]] for pair, c in comps.items()})
        while pairs := planner.next_pairs():
            for pair in pairs:
                planner.observe(pair, *comps[pair][:2])
        planner.samples = 8192
        best, worst = round_robin_extremes(planner.completions(), n, planner.priority)
        b, w = divmod(int(np.bincount(best * n + worst, minlength=n * n).argmax()), n)
        rows.append({"prompt_id": pid, "best": b, "worst": w, "n_comparisons": len(planner.outcomes),
                     "n_calls": int(sum(calls[comps[pair][2]] for pair in planner.outcomes))})
    return {"mode": mode, "order": order, "strategy": "oracle planner (knows the judges' exact probabilities)",
            "sel": pd.DataFrame(rows).set_index("prompt_id"), "ref": ref, "new_calls": 0}


def _oracle_planner(n: int, seed: int, key: str, laws: dict):
    """An ``Adaptive`` planner whose completions draw each unseen outcome from its exact law."""
    import numpy as np

    from prefjudge.curate.strategies import Adaptive

    class Oracle(Adaptive):
        def completions(self):
            x = np.empty((self.samples, len(self.all_pairs)))
            for q, pair in enumerate(self.all_pairs):
                if pair in self.outcomes:
                    x[:, q] = self.outcomes[pair][0]
                else:
                    values, probs = laws[pair]
                    x[:, q] = self._np.choice(values, size=self.samples, p=np.array(probs) / sum(probs))
            return x

    return Oracle(n, seed, key)


def report(rows: list[dict], truth_of: dict[str, tuple[int, int]], n: int) -> str:
    lines = ["| judges' verdicts | order | strategy | comparisons / prompt | judge calls / prompt | same best & worst as round robin "
             "| same, exact ties counted | same best | same worst | best & worst = latent truth |",
             "|---|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        sel, ref, ties = r["sel"], r["ref"]["sel"].loc[r["sel"].index], r["ref"]["ties"]
        p = len(sel)
        best = int((sel["best"] == ref["best"]).sum())
        worst = int((sel["worst"] == ref["worst"]).sum())
        both = int(((sel["best"] == ref["best"]) & (sel["worst"] == ref["worst"])).sum())
        tied = sum(b in ties[pid][0] and w in ties[pid][1] for pid, b, w in zip(sel.index, sel["best"], sel["worst"]))
        true = sum(truth_of[pid] == (b, w) for pid, b, w in zip(sel.index, sel["best"], sel["worst"]))
        is_ref = r["strategy"] == "round_robin"
        cells = ["(reference)", "", "", ""] if is_ref else [share(both, p), share(tied, p), share(best, p), share(worst, p)]
        lines.append(f"| {r['mode']} | {r['order']} | {r['strategy']} | {sel['n_comparisons'].mean():.1f} "
                     f"(max {sel['n_comparisons'].max()}, 2N = {2 * n}) | {sel['n_calls'].mean():.1f} | "
                     + " | ".join(cells) + f" | {share(true, p)} |")
    return "\n".join(lines)


def tie_counts(rows: list[dict]) -> str:
    """How often the round robin's own best or worst is an exact tie (decided by the seeded priority)."""
    out = []
    for r in rows:
        if r["strategy"] != "round_robin":
            continue
        ties = r["ref"]["ties"].values()
        k = len(ties)
        b = sum(len(t[0]) > 1 for t in ties)
        w = sum(len(t[1]) > 1 for t in ties)
        either = sum(len(t[0]) > 1 or len(t[1]) > 1 for t in ties)
        out.append(f"{r['mode']}/{r['order']}: round robin's best tied in {b}, worst in {w}, either in {either} of {k} prompts")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    from prefjudge.testing import SimWorld

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--prompts", type=int, default=200)
    ap.add_argument("--n", type=int, default=8, help="candidates per prompt")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--ceiling", action="store_true", help="add a second round robin and the oracle planner")
    args = ap.parse_args(argv)
    all_rows = []
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        for mode, order in SETTINGS:
            world = SimWorld()
            cands = make_candidates(world, args.prompts, args.n, args.seed)
            all_rows += run_setting(mode, order, cands, world, args.seed, Path(tmp) / f"{mode}-{order}.db", args.ceiling)
            print(f"[bench] {mode}/{order} done after {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
    print(f"N = {args.n} candidates, {args.prompts} prompts, seed {args.seed}; Wilson 95% intervals in brackets.\n")
    print(report(all_rows, truth(cands), args.n))
    print("\n" + tie_counts(all_rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
