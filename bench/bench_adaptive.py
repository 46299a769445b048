"""Benchmark: order="adaptive" against order="both" on the simulated jury (real loopback HTTP).

    /work/main/.venv/bin/python bench/bench_adaptive.py --pairs 600

Judges: the quickstart's simulated jury (``default_sim_jury``: position, length and self biases,
noise) plus a strongly position-biased judge, with hard verdicts ([[A]]/[[B]]/[[C]]) and with soft
verdicts (the ``pairwise_logprob`` template: p_a from the first-token logprobs). For each verdict
mode and aggregation rule: calls per judge and pair, and the share of pairs whose decision (the
jury's winner) equals the one ``order="both"`` makes (the baseline, run in the same process on the
same pairs). Target (issue 11): at most 1.3 calls per judge and pair and >= 95% equal decisions.
"""

from __future__ import annotations

import argparse
import time

import prefjudge as pj
from prefjudge.testing import SimJudge, SimServer, SimWorld, make_demo_pairs
from prefjudge.testing.sim import default_sim_jury


def run(n_pairs: int, seed: int) -> list[dict]:
    world = SimWorld()
    pairs = make_demo_pairs(n_pairs, seed=seed, world=world)
    sims = [*default_sim_jury(), SimJudge(name="mistral-sim", family="mistral", noise=0.6, position_bias=0.6)]
    rows = []
    with SimServer(judges=sims, world=world, seed=seed) as server:
        for template in ("pairwise", "pairwise_logprob"):
            judges = [pj.Judge(s.name, base_url=server.base_url, api_key="x", template=template) for s in sims]
            t0 = time.perf_counter()
            both = pj.rank_pairs(pairs, judges, order="both", seed=seed, progress=False)
            t_both = time.perf_counter() - t0
            t0 = time.perf_counter()
            adaptive = pj.rank_pairs(pairs, judges, order="adaptive", seed=seed, progress=False)
            t_ad = time.perf_counter() - t0
            meta = adaptive.meta["adaptive"]
            for rule in ("majority", "call_majority", "mean"):
                wb = pj.aggregate(both.judgments, aggregate=rule).outcomes["winner"]
                wa = pj.aggregate(adaptive.judgments, aggregate=rule).outcomes["winner"].reindex(wb.index)
                rows.append({"verdicts": "soft (logprob)" if template.endswith("logprob") else "hard",
                             "rule": rule, "calls_both": len(both.judgments) / (n_pairs * len(sims)),
                             "calls_adaptive": meta["calls_per_judge_pair"], "equal": float((wa == wb).mean()),
                             "reasons": meta["second_order"], "s_both": t_both, "s_adaptive": t_ad})
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pairs", type=int, default=600)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    print(f"{args.pairs} pairs, 4 simulated judges (default_sim_jury + a position-biased judge), seed {args.seed}")
    print("| verdicts | rule | calls/judge/pair, both | adaptive | decisions equal to both | second order asked for |")
    print("|---|---|---:|---:|---:|---|")
    for r in run(args.pairs, args.seed):
        reasons = ", ".join(f"{k} {v}" for k, v in sorted(r["reasons"].items()))
        print(f"| {r['verdicts']} | {r['rule']} | {r['calls_both']:.2f} | {r['calls_adaptive']:.2f} | "
              f"{r['equal']:.1%} | {reasons} |")


if __name__ == "__main__":
    main()
