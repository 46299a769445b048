"""Judging throughput: prefjudge.rank_pairs vs a bare AsyncOpenAI loop vs a TRL-1.0-style thread pool.

All variants send the same rendered judge prompts to the simulated judge server, run in its own
process on 127.0.0.1 with 50 ms latency. Each variant runs in a fresh subprocess; we report
judgments per second and the client process's CPU time per judgment, in steady state (imports
done before timing).

    .venv/bin/python bench/bench_judging.py --n 10000 --concurrency 64 256

Variants:
- prefjudge           rank_pairs(order="fixed"), in-memory store
- prefjudge+sqlite    the same with a SQLite file store (every call committed)
- bare-httpx          AsyncOpenAI (default httpx transport) + asyncio.gather + a semaphore
- bare-aiohttp        the same with openai's aiohttp transport (the one prefjudge uses)
- threadpool-trl      sync OpenAI client in ThreadPoolExecutor() with default workers, as
                      TRL 1.0's OpenAIPairwiseJudge did (its concurrency does not follow ours)
- threadpool-N        the same with max_workers = concurrency
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

VARIANTS = ["prefjudge", "prefjudge+sqlite", "bare-httpx", "bare-aiohttp", "threadpool-trl", "threadpool-N"]
VERDICT = re.compile(r"\[\[([ABC])\]\]")


def cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def make_pairs(n: int) -> list[dict]:
    from prefjudge.testing import make_demo_pairs

    return [{k: v for k, v in p.items() if not k.startswith("quality")} for p in make_demo_pairs(n, seed=0)]


def rendered(pairs: list[dict]) -> list[list[dict]]:
    from prefjudge.judging.templates import load_template

    t = load_template("pairwise")
    return [t.render(question=p["prompt"], first=p["response_a"], second=p["response_b"], system=None) for p in pairs]


def run_variant(variant: str, base_url: str, n: int, conc: int) -> dict:
    pairs = make_pairs(n)
    messages = rendered(pairs)
    # Steady state: every variant's libraries are imported before the clock starts, so one-off
    # import costs (pandas, openai, aiohttp) are not spread over the judgments.
    import openai  # noqa: F401
    import pandas  # noqa: F401

    import prefjudge.backends.openai_backend  # noqa: F401
    import prefjudge.judging.rank_pairs  # noqa: F401
    t0, c0 = time.perf_counter(), cpu_s()
    ok = globals()["_" + variant.replace("+", "_").replace("-", "_")](base_url, pairs, messages, conc)
    return {"variant": variant, "n": n, "concurrency": conc, "wall_s": time.perf_counter() - t0,
            "cpu_s": cpu_s() - c0, "ok": ok}


def _prefjudge(base_url, pairs, messages, conc, store=None):
    import prefjudge as pj

    judge = pj.Judge("gpt-sim", base_url=base_url, api_key="x", max_concurrency=conc, max_tokens=256)
    result = pj.rank_pairs(pairs, judges=[judge], order="fixed", store=store, progress=False)
    return int(result.judgments["winner"].notna().sum())


def _prefjudge_sqlite(base_url, pairs, messages, conc):
    with tempfile.TemporaryDirectory() as d:
        return _prefjudge(base_url, pairs, messages, conc, store=str(Path(d) / "bench.db"))


def _bare(base_url, messages, conc, http_client):
    import asyncio

    from openai import AsyncOpenAI

    async def main():
        client = AsyncOpenAI(base_url=base_url, api_key="x", max_retries=0, **http_client())
        sem = asyncio.Semaphore(conc)

        async def one(m):
            async with sem:
                r = await client.chat.completions.create(model="gpt-sim", messages=m, temperature=0.0, max_tokens=256)
                return VERDICT.search(r.choices[0].message.content or "") is not None

        try:
            return sum(await asyncio.gather(*(one(m) for m in messages)))
        finally:
            await client.close()

    return asyncio.run(main())


def _bare_httpx(base_url, pairs, messages, conc):
    return _bare(base_url, messages, conc, lambda: {})


def _bare_aiohttp(base_url, pairs, messages, conc):
    from openai import DefaultAioHttpClient

    return _bare(base_url, messages, conc, lambda: {"http_client": DefaultAioHttpClient()})


def _threadpool(base_url, messages, workers):
    from concurrent.futures import ThreadPoolExecutor

    from openai import OpenAI

    client = OpenAI(base_url=base_url, api_key="x", max_retries=0)

    def one(m):
        r = client.chat.completions.create(model="gpt-sim", messages=m, temperature=0.0, max_tokens=256)
        return VERDICT.search(r.choices[0].message.content or "") is not None

    with ThreadPoolExecutor(max_workers=workers) as pool:
        return sum(pool.map(one, messages))


def _threadpool_trl(base_url, pairs, messages, conc):
    return _threadpool(base_url, messages, None)


def _threadpool_N(base_url, pairs, messages, conc):
    return _threadpool(base_url, messages, conc)


def start_server(tmp: Path) -> tuple[subprocess.Popen, str]:
    cfg = tmp / "sim.json"
    cfg.write_text(json.dumps({"judges": [{"name": "gpt-sim", "latency_s": 0.05}]}))
    port_file = tmp / "port"
    proc = subprocess.Popen([sys.executable, "-m", "prefjudge.testing.server", "--config", str(cfg), "--port", "0",
                             "--port-file", str(port_file)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(300):
        if port_file.exists() and port_file.read_text().strip():
            return proc, f"http://127.0.0.1:{port_file.read_text().strip()}/v1"
        time.sleep(0.1)
    proc.kill()
    raise RuntimeError("simulated server did not start")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=10000)
    ap.add_argument("--concurrency", type=int, nargs="+", default=[64, 256])
    ap.add_argument("--variants", nargs="+", default=VARIANTS)
    ap.add_argument("--child", nargs=3, metavar=("VARIANT", "URL", "CONC"), help=argparse.SUPPRESS)
    ap.add_argument("--json-out", type=Path)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(run_variant(args.child[0], args.child[1], args.n, int(args.child[2]))))
        return
    rows = []
    with tempfile.TemporaryDirectory() as d:
        proc, url = start_server(Path(d))
        try:
            for conc in args.concurrency:
                for variant in args.variants:
                    out = subprocess.run([sys.executable, __file__, "--n", str(args.n), "--child", variant, url, str(conc)],
                                         capture_output=True, text=True, env={**os.environ, "PYTHONWARNINGS": "ignore"})
                    if out.returncode:
                        raise SystemExit(f"{variant} failed:\n{out.stderr[-2000:]}")
                    row = json.loads(out.stdout.strip().splitlines()[-1])
                    rows.append(row)
                    print(f"{conc:>4} {variant:<17} {row['n'] / row['wall_s']:8.1f} judgments/s  "
                          f"{1000 * row['cpu_s'] / row['n']:6.2f} ms CPU/judgment  ok={row['ok']}", flush=True)
        finally:
            proc.terminate()
    print(table(rows))
    if args.json_out:
        args.json_out.write_text(json.dumps(rows, indent=1))


def table(rows: list[dict]) -> str:
    lines = ["| concurrency | variant | judgments/s | client CPU ms/judgment | parsed | vs bare-aiohttp | vs bare-httpx | vs threadpool-trl |",
             "|---|---|---|---|---|---|---|---|"]
    for row in rows:
        same = {r["variant"]: r["n"] / r["wall_s"] for r in rows if r["concurrency"] == row["concurrency"]}
        rate = row["n"] / row["wall_s"]
        rel = [f"{rate / same[b]:.2f}x" if b in same else "-" for b in ("bare-aiohttp", "bare-httpx", "threadpool-trl")]
        lines.append(f"| {row['concurrency']} | {row['variant']} | {rate:.0f} | {1000 * row['cpu_s'] / row['n']:.2f} | "
                     f"{row['ok']}/{row['n']} | " + " | ".join(rel) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
