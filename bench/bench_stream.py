"""Peak memory and throughput of judging at scale: the streaming engine vs the gather-everything loop.

Every (variant, size) runs in a fresh subprocess; the parent reads the child's peak RSS
(``resource.getrusage(RUSAGE_SELF).ru_maxrss``) and its wall time for the run (imports done before
the clock starts). The judge has zero latency: an in-process backend registered for this script
(``register_backend("bench-instant", ...)``) answers every call at once with a verdict derived from
the prompt's length, so what is measured is prefjudge itself (rendering, request hash, store lookup
and commit, parsing, results), not a server. A judge over HTTP, even a simulated one, would measure
the HTTP stack and the server sharing the 2 cores. The store is a SQLite file on disk; every call is
committed as in a real run.

    .venv/bin/python bench/bench_stream.py --sizes 10000 100000 1000000 --baseline-sizes 10000 100000 --repeat 3

Variants:
- stream     rank_pairs(pairs_generator, judge, store=<file>, out=<folder>): rows produced by a
             generator, a bounded window of calls, judgments written as parquet parts, outcomes
             aggregated from the parts at the end (the result's tables are not loaded).
- baseline   the loop rank_pairs ran before streaming (copied below, not in the package): every
             pair validated into a list, every (judge, pair, order) call created up front and awaited
             with one asyncio.gather, the results table built in memory. Given the same rows as a list.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

WORDS = ("energy water plant light heat cell market price trade history city river mountain model data answer "
         "reason method result value system process change study theory example question problem").split()


def text(i: int, salt: int, n_words: int) -> str:
    """Deterministic filler text, different per row (about 6 characters a word)."""
    k = len(WORDS)
    return " ".join(WORDS[(i * 31 + salt * 17 + j * 7 + (i >> j % 7)) % k] for j in range(n_words)) + f" ({i}.{salt})"


def rows(n: int):
    for i in range(n):
        yield {"id": f"pair-{i}", "prompt": f"Question {i}: " + text(i, 0, 25),
               "response_a": text(i, 1, 60), "response_b": text(i, 2, 60)}


def register_instant_backend() -> None:
    from prefjudge.backends import Backend, register_backend
    from prefjudge.types import Completion

    replies = ("The first answer is better. [[A]]", "The second answer is better. [[B]]", "Both are equal. [[C]]")

    class Instant(Backend):
        async def complete(self, messages, params):
            content = messages[-1]["content"]
            return Completion(text=replies[len(content) % 3], prompt_tokens=len(content) // 4, completion_tokens=8,
                              finish_reason="stop")

    register_backend("bench-instant", Instant)


async def baseline_arank_pairs(pairs, judges, *, order="random", seed=0, store=None):
    """The pre-streaming ``arank_pairs``: everything created up front, one gather."""
    from prefjudge.judging.engine import Engine
    from prefjudge.judging.judge import display_orders
    from prefjudge.judging.pairs import normalize_pairs
    from prefjudge.judging.rank_pairs import (
        _calls_kept,
        _guarded,
        build_result,
        check_aggregator,
        judge_meta,
        judge_pair,
        resolve_judges,
    )
    from prefjudge.judging.store import Store

    plist = normalize_pairs(pairs)
    judge_list, jury = resolve_judges(judges, None)
    agg_name = jury.rule_name
    for j in judge_list:
        j.preflight()
    check_aggregator(jury, judge_list, agg_name)
    st = Store(store)
    engine = Engine(st)
    work = [(j, p, o) for p in plist if not p.identical for j in judge_list for o in display_orders(p.id, j.name, seed, order)]
    try:
        judgments = await asyncio.gather(*(judge_pair(engine, j, p, o) for j, p, o in work))
    finally:
        await engine.aclose()
        st.close()
    aggregator = _guarded(jury.aggregate_table, agg_name, after=_calls_kept(len(judgments), st.path))
    return build_result(plist, judgments, aggregator, meta={
        "judges": [judge_meta(j) for j in judge_list], "order": order, "seed": seed, "aggregate": agg_name,
        "n_pairs": len(plist), "n_calls_made": engine.calls_made, "n_calls_cached": engine.calls_cached})


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def child(variant: str, n: int, tmp: Path) -> dict:
    import pandas  # noqa: F401  (imports before the clock)
    import pyarrow.parquet  # noqa: F401

    import prefjudge as pj
    import prefjudge.judging.rank_pairs  # noqa: F401

    register_instant_backend()
    judge = pj.Judge("bench-instant-model", backend="bench-instant", name="instant", max_concurrency=16)
    store = tmp / "store.db"
    rss_start = peak_rss_mib()
    t0 = time.perf_counter()
    if variant == "stream":
        result = pj.rank_pairs(rows(n), judge, store=store, out=tmp / "out", progress=False)
        n_judgments, made = result.meta["n_judgments"], result.meta["n_calls_made"]
    elif variant == "baseline":
        result = asyncio.run(baseline_arank_pairs(list(rows(n)), [judge], store=store))
        n_judgments, made = len(result.judgments), result.meta["n_calls_made"]
    else:
        raise SystemExit(f"unknown variant {variant}")
    wall = time.perf_counter() - t0
    return {"variant": variant, "n": n, "wall_s": wall, "judgments": n_judgments, "calls_made": made,
            "rss_start_mib": rss_start, "peak_rss_mib": peak_rss_mib()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    ap.add_argument("--baseline-sizes", type=int, nargs="*", default=[10_000, 100_000])
    ap.add_argument("--repeat", type=int, default=1, help="runs per (variant, size) below 1M pairs (1M runs once); "
                    "the fastest is reported, with the highest peak RSS of its repeats (a shared machine: times vary)")
    ap.add_argument("--child", nargs=3, metavar=("VARIANT", "N", "TMP"), help=argparse.SUPPRESS)
    ap.add_argument("--json-out", type=Path)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(args.child[0], int(args.child[1]), Path(args.child[2]))))
        return
    runs = [("baseline", n) for n in args.baseline_sizes] + [("stream", n) for n in args.sizes]
    runs.sort(key=lambda r: (r[1], r[0]))
    out = []
    for variant, n in runs:
        best = None
        for _ in range(args.repeat if n < 1_000_000 else 1):
            row = run_child(variant, n)
            if best is None or row["wall_s"] < best["wall_s"]:
                best = {**row, "peak_rss_mib": max(row["peak_rss_mib"], best["peak_rss_mib"] if best else 0)}
            else:
                best["peak_rss_mib"] = max(best["peak_rss_mib"], row["peak_rss_mib"])
        row = best
        out.append(row)
        print(f"{variant:<9} {n:>9,} pairs  {row['judgments'] / row['wall_s']:8.0f} judgments/s  "
              f"peak RSS {row['peak_rss_mib']:7.0f} MiB (after imports {row['rss_start_mib']:.0f})  "
              f"wall {row['wall_s']:.1f} s", flush=True)
    print(table(out))
    if args.json_out:
        args.json_out.write_text(json.dumps(out, indent=1))


def run_child(variant: str, n: int) -> dict:
    tmp = Path(tempfile.mkdtemp(prefix="bench-stream-"))
    try:
        proc = subprocess.run([sys.executable, __file__, "--child", variant, str(n), str(tmp)], capture_output=True,
                              text=True, env={**os.environ, "PYTHONWARNINGS": "ignore"})
        if proc.returncode:
            raise SystemExit(f"{variant} {n} failed:\n{proc.stderr[-3000:]}")
        return json.loads(proc.stdout.strip().splitlines()[-1])
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def table(rows_: list[dict]) -> str:
    base = {r["n"]: r["judgments"] / r["wall_s"] for r in rows_ if r["variant"] == "baseline"}
    lines = ["| variant | pairs | judgments/s | vs baseline | peak RSS MiB | RSS after imports MiB | wall s |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for r in rows_:
        rate = r["judgments"] / r["wall_s"]
        rel = f"{rate / base[r['n']]:.2f}x" if r["n"] in base else "-"
        lines.append(f"| {r['variant']} | {r['n']:,} | {rate:.0f} | {rel} | {r['peak_rss_mib']:.0f} | "
                     f"{r['rss_start_mib']:.0f} | {r['wall_s']:.1f} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
