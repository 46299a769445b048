"""Memory stays flat in the number of pairs: a streaming run (generator in, parquet parts out, a store on
disk) in a subprocess, at N and 4N pairs, compared by peak RSS.

The judge is an in-process backend that answers at once (registered in the child process), so the run
is as fast as prefjudge can go and what grows is prefjudge's own memory. Before streaming, every call
was created up front: peak RSS grew by about 9 KiB per pair with these rows (17 KiB with longer texts).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

CHILD = textwrap.dedent('''
    import json, resource, sys
    import pandas, pyarrow.parquet
    import prefjudge as pj
    from prefjudge.backends import Backend, register_backend
    from prefjudge.types import Completion

    class Instant(Backend):
        async def complete(self, messages, params):
            n = len(messages[-1]["content"])
            return Completion(text=("[[A]]", "[[B]]", "[[C]]")[n % 3], prompt_tokens=n // 4, completion_tokens=5)

    register_backend("instant-test", Instant)
    n, folder = int(sys.argv[1]), sys.argv[2]
    words = "energy water plant light heat cell market price trade history city river".split()

    def text(i, salt, k):
        return " ".join(words[(i * 7 + salt * 3 + j) % len(words)] for j in range(k)) + f" {i}.{salt}"

    rows = ({"prompt": text(i, 0, 25), "response_a": text(i, 1, 60), "response_b": text(i, 2, 60)} for i in range(n))
    judge = pj.Judge("instant-model", backend="instant-test", name="instant")
    res = pj.rank_pairs(rows, judge, store=folder + "/store.db", out=folder + "/out", progress=False)
    print(json.dumps({"judgments": res.meta["n_judgments"], "peak_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
''')


def _peak_kib(n: int, folder) -> int:
    folder.mkdir()
    out = subprocess.run([sys.executable, "-c", CHILD, str(n), str(folder)], capture_output=True, text=True,
                         env={**os.environ, "PYTHONWARNINGS": "ignore"}, timeout=600, check=True)
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["judgments"] == n
    return got["peak_kib"]


def test_peak_rss_is_flat_in_the_number_of_pairs(tmp_path):
    n = 8000
    small = _peak_kib(n, tmp_path / "small")
    large = _peak_kib(4 * n, tmp_path / "large")
    per_pair_kib = (large - small) / (3 * n)
    # streaming: the id set, parquet buffers and allocator noise, well under 1 KiB a pair (gather: ~9 KiB)
    assert per_pair_kib < 2.0, (small, large, per_pair_kib)
