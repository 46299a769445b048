"""Pairwise ranking vs rating each candidate, on the simulated jury: calls, cost, and how often each
finds the latent best and worst answer.

For each prompt, N answers are drawn from the three demo generators (latent qualities registered in
the simulator's world) and judged by the three-judge demo jury (``default_sim_jury``: noise 0.5 /
0.7 / 1.2, position, length and self bias) over real loopback HTTP:

- **pairwise**: ``rank_responses(strategy="adaptive")`` (2N comparisons per prompt, one call per
  judge and comparison, ``order="random"``); its best and worst are the ranking's selections;
- **rating**: ``rate`` with the ``single`` template (MT-Bench 1-10) and with ``ultrafeedback`` (four
  aspects 1-5), one call per judge and answer; best and worst by the mean score, with
  ``ratings_to_preferences`` (ties at the top or bottom broken by a seeded draw; a prompt whose
  answers all tie has no pick and counts as a miss).

Calls and tokens are counted per prompt (the simulator's token counts: about 4 characters a token);
the cost prices those tokens as gpt-4o-mini in litellm's offline price map (the simulator itself is
free). Hit rates have Wilson 95% intervals.

    .venv/bin/python bench/bench_rating.py --prompts 40      # CI-sized default
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
PRICE_AS = "gpt-4o-mini"


def make_candidates(world, n_prompts: int, n: int, seed: int) -> list[dict]:
    from prefjudge.testing import make_demo_candidates

    return make_demo_candidates(world, n_prompts, n, seed, key=("bench-rating", n))


def truth(cands: list[dict]) -> dict[str, tuple[int, int]]:
    out: dict[str, tuple[int, int]] = {}
    by_prompt: dict[str, list[float]] = {}
    for r in cands:
        by_prompt.setdefault(r["prompt_id"], []).append(r["quality"])
    for pid, q in by_prompt.items():
        out[pid] = (q.index(max(q)), q.index(min(q)))
    return out


def share(hits: int, n: int) -> str:
    from prefjudge.stats.intervals import wilson

    lo, hi = wilson(hits, n)
    return f"{100 * hits / n:.1f}% ({100 * lo:.0f}-{100 * hi:.0f})"


def _cost(df) -> float:
    from prefjudge.backends.pricing import cost_usd

    pt = int(df["prompt_tokens"].fillna(0).sum())
    ct = int(df["completion_tokens"].fillna(0).sum())
    return cost_usd(PRICE_AS, pt, ct) or 0.0


def run(n: int, n_prompts: int, seed: int, store: Path) -> list[dict]:
    import prefjudge as pj
    from prefjudge.curate.from_ratings import ratings_to_preferences
    from prefjudge.testing import SimServer, default_sim_jury
    from prefjudge.testing.sim import SimWorld

    world = SimWorld()
    cands = make_candidates(world, n_prompts, n, seed)
    want = truth(cands)
    rows = []
    with SimServer(judges=default_sim_jury(), world=world, seed=seed) as server:
        jury = [pj.Judge(j.name, base_url=server.base_url, api_key="x") for j in default_sim_jury()]
        t0 = time.perf_counter()
        ranked = pj.rank_responses(cands, jury, strategy="adaptive", seed=seed, store=store, progress=False)
        picks = {r["prompt_id"]: (int(r["best"]), int(r["worst"])) for r in ranked.selections.to_dict("records")}
        rows.append(_row("pairwise adaptive (2N comparisons)", n, n_prompts, ranked.judgments, picks, want,
                         time.perf_counter() - t0))
        for template in ("single", "ultrafeedback"):
            t0 = time.perf_counter()
            rated = pj.rate(cands, jury, template=template, seed=seed, store=store, progress=False)
            prefs = ratings_to_preferences(rated, rejected="lowest", seed=seed)
            picks = {r["id"]: (int(r["chosen_id"].rsplit("#", 1)[1]), int(r["rejected_id"].rsplit("#", 1)[1]))
                     for r in prefs.to_dict("records")}
            rows.append(_row(f"rating `{template}`", n, n_prompts, rated.ratings, picks, want, time.perf_counter() - t0,
                             no_pick=prefs.attrs["dropped"]["ties"]))
    return rows


def _row(method: str, n: int, n_prompts: int, calls, picks: dict, want: dict, seconds: float, no_pick: int = 0) -> dict:
    best = sum(1 for pid, (b, _) in picks.items() if b == want[pid][0])
    worst = sum(1 for pid, (_, w) in picks.items() if w == want[pid][1])
    both = sum(1 for pid, (b, w) in picks.items() if (b, w) == want[pid])
    return {"method": method, "n": n, "calls": len(calls) / n_prompts,
            "tokens": float((calls["prompt_tokens"].fillna(0) + calls["completion_tokens"].fillna(0)).sum()) / n_prompts,
            "cost": _cost(calls) / n_prompts * 1000, "best": share(best, n_prompts), "worst": share(worst, n_prompts),
            "both": share(both, n_prompts), "no_pick": no_pick, "seconds": seconds}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--prompts", type=int, default=40)
    ap.add_argument("--n", type=int, nargs="+", default=[4, 8])
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.n:
            rows += run(n, args.prompts, args.seed, Path(tmp) / f"bench-{n}.db")
    print(f"| N | method | judge calls / prompt | tokens / prompt | $ per 1000 prompts (as {PRICE_AS}) "
          "| best = latent best | worst = latent worst | both | prompts without a pick |")
    print("|---:|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['n']} | {r['method']} | {r['calls']:.1f} | {r['tokens']:.0f} | {r['cost']:.2f} | {r['best']} "
              f"| {r['worst']} | {r['both']} | {r['no_pick']} |")
    print(f"\n{args.prompts} prompts per N; wall time: " + ", ".join(f"{r['method']} N={r['n']}: {r['seconds']:.1f} s" for r in rows),
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
