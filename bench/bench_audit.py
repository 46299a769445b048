"""Benchmark: audit of 1,000,000 synthetic judgments vs a plain per-row Python loop.

    /work/main/.venv/bin/python bench/bench_audit.py --rows 1000000

The table: rows / (judges * 2) pairs, every judge calls every pair in both orders, with a position-
biased, a length-biased and a self-biased judge, 5% failed calls, human labels on every pair.
``prefjudge.audit`` computes everything in the report (pair-clustered CIs, bootstraps, length
regressions, length-controlled win rates, agreement, contested pairs). The loop computes only the
point estimates of the same per-judge rates (n, parsed rate, P(first), consistency, P(longer),
P(lists), human agreement, self-preference) plus the majority jury, row by row as one would write it
by hand; both must agree. ``--loop-rows N`` runs the loop on the first N rows and extrapolates.
"""

from __future__ import annotations

import argparse
import re
import time
from collections import defaultdict

import numpy as np
import pandas as pd

WORDS = np.array("the a model answer data value point result because therefore while list item step".split())
LIST = re.compile(r"^[ \t]*(?:[*\u2022\-]|\d{1,3}[.)]|[A-Za-z][.)])[ \t]+\S", re.M)
GENERATORS = [("gpt-4o-mini", "openai"), ("claude-3-haiku", "anthropic"), ("llama-3-8b", "meta"), ("mistral-7b", "mistral")]
JUDGES = [("gpt-4o", 0.25, 0.0, 0.0), ("claude-3-5-sonnet", 0.0, 1.0, 0.0), ("llama-3-70b", 0.0, 0.0, 1.0), ("qwen-2.5-72b", 0.0, 0.0, 0.0)]


def make_table(n_rows: int, seed: int = 0) -> pd.DataFrame:
    """A synthetic judgments table of n_rows rows (numpy, seeded)."""
    rng = np.random.default_rng(seed)
    n_pairs = n_rows // (len(JUDGES) * 2)
    texts = [_text(rng) for _ in range(2 * n_pairs)]
    ra, rb = np.array(texts[:n_pairs], dtype=object), np.array(texts[n_pairs:], dtype=object)
    la, lb = np.array([len(t) for t in ra], float), np.array([len(t) for t in rb], float)
    ma = rng.integers(0, 4, n_pairs)
    mb = (ma + rng.integers(1, 4, n_pairs)) % 4
    gap = rng.normal(size=n_pairs)
    fam = np.array([f for _, f in GENERATORS], dtype=object)
    frames = []
    for name, pos, length, self_b in JUDGES:
        own = {"gpt-4o": "openai", "claude-3-5-sonnet": "anthropic", "llama-3-70b": "meta", "qwen-2.5-72b": "qwen"}[name]
        base = gap + length * np.tanh((la - lb) / 200) + self_b * ((fam[ma] == own).astype(float) - (fam[mb] == own))
        for order in ("ab", "ba"):
            margin = base + 0.6 * rng.normal(size=n_pairs)
            a_wins = np.where(rng.random(n_pairs) < pos, order == "ab", margin > 0)
            winner = np.where(a_wins, "a", "b").astype(object)
            winner[rng.random(n_pairs) < 0.05] = None
            frames.append(pd.DataFrame({
                "pair_id": np.char.add("p", np.arange(n_pairs).astype(str)).astype(object), "prompt": "write something",
                "response_a": ra, "response_b": rb, "model_a": np.array([g for g, _ in GENERATORS], dtype=object)[ma],
                "model_b": np.array([g for g, _ in GENERATORS], dtype=object)[mb], "judge": name, "judge_family": own,
                "order": order, "winner": winner, "human": np.where(gap > 0, "a", "b").astype(object),
                "latency_s": rng.gamma(2.0, 0.5, n_pairs), "cost_usd": 1e-4,
            }))
    return pd.concat(frames, ignore_index=True)


def _text(rng) -> str:
    words = " ".join(WORDS[rng.integers(0, len(WORDS), int(rng.integers(10, 150)))])
    return words + "\n- one\n- two" if rng.random() < 0.3 else words


def loop_audit(rows: list[dict]) -> dict:
    """The same point estimates, one row at a time (what a hand-written audit does)."""
    from prefjudge.families import infer_family

    fam_cache: dict = {}
    st = defaultdict(lambda: defaultdict(float))
    seen = defaultdict(dict)  # (judge, pair) -> {order: winner}
    score = defaultdict(dict)  # pair -> judge -> [sum, n]
    for r in rows:
        j, w = r["judge"], r["winner"]
        s = st[j]
        s["n"] += 1
        if w is None:
            continue
        s["parsed"] += 1
        seen[(j, r["pair_id"])].setdefault(r["order"], set()).add(w)
        sc = score[r["pair_id"]].setdefault(j, [0.0, 0, r])
        sc[0] += {"a": 1.0, "b": 0.0, "tie": 0.5}[w]
        sc[1] += 1
        s["h_n"] += 1
        s["h_k"] += w == r["human"]
        if w == "tie":
            continue
        s["f_n"] += 1
        s["f_k"] += (r["order"] == "ab") == (w == "a")
        la, lb = len(r["response_a"]), len(r["response_b"])
        if abs(la - lb) > 30:
            s["l_n"] += 1
            s["l_k"] += (la > lb) == (w == "a")
        lista, listb = LIST.search(r["response_a"]) is not None, LIST.search(r["response_b"]) is not None
        if lista != listb:
            s["li_n"] += 1
            s["li_k"] += lista == (w == "a")
    for (j, _), orders in seen.items():
        if len(orders) == 2:
            st[j]["c_n"] += 1
            st[j]["c_k"] += len(orders["ab"] | orders["ba"]) == 1
    out = {j: {"n": int(s["n"]), "parsed_rate": s["parsed"] / s["n"], "p_first": s["f_k"] / s["f_n"], "consistency": s["c_k"] / s["c_n"],
               "p_longer": s["l_k"] / s["l_n"], "p_lists": s["li_k"] / s["li_n"], "human_agreement": s["h_k"] / s["h_n"]} for j, s in st.items()}
    _loop_self_preference(score, out, fam_cache, infer_family)
    out["__jury__"] = _loop_majority(score)
    return out


def _loop_self_preference(score, out, cache, infer_family) -> None:
    acc = defaultdict(lambda: [0.0, 0])
    for by_judge in score.values():
        for j, (s, n, r) in by_judge.items():
            fj = cache.setdefault(j, infer_family(j))
            fa, fb = cache.setdefault(r["model_a"], infer_family(r["model_a"])), cache.setdefault(r["model_b"], infer_family(r["model_b"]))
            others = [v[0] / v[1] for k, v in by_judge.items() if k != j]
            if (fa == fj) == (fb == fj) or not others:
                continue
            mine, ref = s / n, sum(others) / len(others)
            d = (mine - ref) if fa == fj else (ref - mine)
            acc[j][0] += d
            acc[j][1] += 1
    for j, (tot, n) in acc.items():
        out[j]["self_preference"] = tot / n


def _loop_majority(score) -> dict:
    winners = {}
    for pid, by_judge in score.items():
        votes = defaultdict(int)
        for s, n, _ in by_judge.values():
            votes["a" if s / n > 0.5 else "b" if s / n < 0.5 else "tie"] += 1
        best = max(votes.values())
        top = [k for k, v in votes.items() if v == best]
        winners[pid] = top[0] if len(top) == 1 else "tie"
    return winners


def compare(report: dict, loop: dict, tol: float = 1e-9) -> int:
    """Check that the vectorized audit and the loop agree; returns the number of values compared."""
    n = 0
    for j, e in loop.items():
        if j == "__jury__":
            continue
        for key, value in e.items():
            got = report["judges"][j][key]
            got = got["value"] if isinstance(got, dict) else got
            assert abs(got - value) <= tol, (j, key, got, value)
            n += 1
    return n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--loop-rows", type=int, default=None, help="run the loop on this many rows only and extrapolate")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--html", action="store_true", help="also time the HTML rendering")
    args = ap.parse_args()
    from prefjudge.audit import audit

    t0 = time.perf_counter()
    table = make_table(args.rows, args.seed)
    print(f"table: {len(table):,} judgments, {table['pair_id'].nunique():,} pairs, {table['judge'].nunique()} judges "
          f"(built in {time.perf_counter() - t0:.1f} s)")
    t0 = time.perf_counter()
    report = audit(table)
    t_vec = time.perf_counter() - t0
    print(f"prefjudge.audit: {t_vec:.2f} s")
    if args.html:
        t0 = time.perf_counter()
        html = report.to_html()
        print(f"to_html: {time.perf_counter() - t0:.2f} s ({len(html) / 1e3:.0f} kB)")
    sample = table if args.loop_rows is None else table.iloc[: args.loop_rows]
    rows = sample.to_dict("records")
    for r in rows:
        r["winner"] = None if r["winner"] is None or r["winner"] != r["winner"] else r["winner"]
    t0 = time.perf_counter()
    loop = loop_audit(rows)
    t_loop = time.perf_counter() - t0
    scale = len(table) / len(sample)
    note = "" if scale == 1 else f" on {len(sample):,} rows, extrapolated x{scale:.1f}"
    print(f"python loop: {t_loop * scale:.2f} s{note}")
    if scale == 1:
        print(f"agreement check: {compare(report.to_dict(), loop)} per-judge values equal")
    print(f"speed-up: {t_loop * scale / t_vec:.1f}x")


if __name__ == "__main__":
    main()
