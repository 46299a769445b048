"""Ranking N candidates per prompt: efficient strategies against a full round robin, on the simulated jury.

For each prompt, N answers are drawn from the three demo generators (latent qualities registered
in the simulator's world) and ranked by the three-judge demo jury (default_sim_jury: noise 0.5 /
0.7 / 1.2, position, length and self bias) over real loopback HTTP. The round robin runs first;
the efficient strategies then run against the same store, so every comparison they share with it
is the very same judge call (same pair id, display order and verdict). We report comparisons and
judge calls per prompt, and how often each strategy picks the same best and worst answer as the
round robin (and as the latent truth), with Wilson 95% intervals.

    .venv/bin/python bench/bench_rank_responses.py --prompts 200 --n 8
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
SETTINGS = [("verdict", "random"), ("verdict", "both"), ("logprob", "random")]
TEMPLATES = {"verdict": "pairwise", "logprob": "pairwise_logprob"}


def make_candidates(world, n_prompts: int, n: int, seed: int) -> list[dict]:
    from prefjudge.testing import default_sim_generators, make_demo_prompts
    from prefjudge.testing.sim import seeded_rng

    gens = default_sim_generators()
    rows = []
    for pi, prompt in enumerate(make_demo_prompts(n_prompts, seed)):
        for k in range(n):
            g = gens[k % len(gens)]
            text, q = g.draw(seeded_rng(seed, "bench-rank", pi, k))
            world.register(text, quality=q, model=g.name, family=g.family)
            rows.append({"prompt_id": f"p{pi}", "prompt": prompt, "response": text, "model": g.name, "quality": q})
    return rows


def truth(cands: list[dict]) -> dict[str, tuple[int, int]]:
    import pandas as pd

    out = {}
    for pid, g in pd.DataFrame(cands).groupby("prompt_id", sort=False):
        q = g["quality"].tolist()
        out[pid] = (q.index(max(q)), q.index(min(q)))
    return out


def share(hits: int, n: int) -> str:
    from prefjudge.audit.ci import wilson

    lo, hi = wilson(hits, n)
    return f"{100 * hits / n:.1f}% ({100 * lo:.0f}-{100 * hi:.0f})"


def run_setting(mode: str, order: str, cands: list[dict], world, seed: int, store: Path) -> list[dict]:
    import prefjudge as pj
    from prefjudge.curate import rank_responses
    from prefjudge.testing import SimServer, default_sim_jury

    rows = []
    with SimServer(judges=default_sim_jury(), world=world, seed=seed) as server:
        judges = [pj.Judge(j.name, base_url=server.base_url, api_key="x", template=TEMPLATES[mode]) for j in default_sim_jury()]
        ref = None
        for strategy in ("round_robin", "knockout", "adaptive"):
            t0 = time.perf_counter()
            r = rank_responses(cands, judges, strategy=strategy, order=order, seed=seed, store=store, progress=False)
            secs = time.perf_counter() - t0
            sel = r.selections.set_index("prompt_id")
            ref = sel if ref is None else ref
            rows.append({"mode": mode, "order": order, "strategy": strategy, "sel": sel, "ref": ref, "secs": secs,
                         "new_calls": r.meta["n_calls_made"]})
    return rows


def report(rows: list[dict], truth_of: dict[str, tuple[int, int]], n: int) -> str:
    lines = ["| judges' verdicts | order | strategy | comparisons / prompt | judge calls / prompt | same best & worst as round robin "
             "| same best | same worst | best & worst = latent truth |", "|---|---|---|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        sel, ref = r["sel"], r["ref"]
        p = len(sel)
        best = int((sel["best"] == ref["best"]).sum())
        worst = int((sel["worst"] == ref["worst"]).sum())
        both = int(((sel["best"] == ref["best"]) & (sel["worst"] == ref["worst"])).sum())
        true = sum(truth_of[pid] == (b, w) for pid, b, w in zip(sel.index, sel["best"], sel["worst"]))
        lines.append(f"| {r['mode']} | {r['order']} | {r['strategy']} | {sel['n_comparisons'].mean():.1f} "
                     f"(max {sel['n_comparisons'].max()}, 2N = {2 * n}) | {sel['n_calls'].mean():.1f} | "
                     f"{share(both, p) if r['strategy'] != 'round_robin' else '(reference)'} | "
                     f"{share(best, p) if r['strategy'] != 'round_robin' else ''} | "
                     f"{share(worst, p) if r['strategy'] != 'round_robin' else ''} | {share(true, p)} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    from prefjudge.testing import SimWorld

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--prompts", type=int, default=200)
    ap.add_argument("--n", type=int, default=8, help="candidates per prompt")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    all_rows = []
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        for mode, order in SETTINGS:
            world = SimWorld()
            cands = make_candidates(world, args.prompts, args.n, args.seed)
            all_rows += run_setting(mode, order, cands, world, args.seed, Path(tmp) / f"{mode}-{order}.db")
            print(f"[bench] {mode}/{order} done after {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
    print(f"N = {args.n} candidates, {args.prompts} prompts, seed {args.seed}; Wilson 95% intervals in brackets.\n")
    print(report(all_rows, truth(cands), args.n))
    return 0


if __name__ == "__main__":
    sys.exit(main())
