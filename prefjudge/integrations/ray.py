"""Judge a ``ray.data.Dataset`` of pairs with an actor pool; the judgments come back as a Dataset.

Each actor judges whole batches with :func:`prefjudge.rank_pairs` (the same order policy, seed,
request hashes and parsing as a single process), writing every finished call to the store as it
goes, so a killed job resumes from the store without repeating a call. Actors on one machine share
one SQLite store file (WAL; several processes may write it); on a cluster, give each node a local
path with ``{node}`` in it and merge the files afterwards with ``prefjudge store merge``.

When Ray pays, and when it does not: see docs/scaling.md. One async process already keeps hundreds
of calls in flight; Ray helps when the judges are local models on many GPUs, when there are very
many endpoints, or when the pairs already live in a Ray pipeline.

    import ray, prefjudge as pj
    from prefjudge.integrations.ray import judge_dataset
    ds = ray.data.read_parquet("pairs.parquet")
    judgments = judge_dataset(ds, [pj.Judge("gpt-4o-mini")], order="both", store="runs/ray.db")
    result = pj.aggregate(judgments.to_pandas())        # outcomes per pair, as usual
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from prefjudge.errors import ConfigError, InputError

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd
    import ray.data

    from prefjudge.aggregation.jury import Jury
    from prefjudge.judging.judge import Judge

__all__ = ["judge_dataset"]


class _JudgeActor:
    """One actor: judges batches of pairs with rank_pairs into the shared (or per-node) store."""

    def __init__(self, judges: Any, order: str, seed: int, store: str | None):
        self.judges, self.order, self.seed = judges, order, seed
        self.store = _node_path(store) if store else None

    def __call__(self, batch: pd.DataFrame) -> pd.DataFrame:
        from prefjudge.judging.rank_pairs import rank_pairs

        result = rank_pairs(batch, self.judges, order=self.order, seed=self.seed, store=self.store, progress=False)  # type: ignore[arg-type]
        table = result.judgments.copy()
        for col in table.columns:  # Arrow needs one type per column: keep failures as None, never NaN
            if table[col].dtype == object:
                table[col] = table[col].astype(object)
        return table


def _node_path(store: str) -> str:
    if "{node}" not in store:
        return store
    import ray

    return store.replace("{node}", ray.get_runtime_context().get_node_id()[:12])


def judge_dataset(
    ds: ray.data.Dataset,
    judges: Judge | Sequence[Judge] | Jury,
    *,
    order: str = "random",
    seed: int = 0,
    store: str | Path | None = None,
    actors: int = 2,
    batch_size: int = 256,
    num_cpus_per_actor: float = 1.0,
) -> ray.data.Dataset:
    """Judge every pair of ``ds`` (columns as for ``rank_pairs``: prompt, response_a, response_b,
    optional id/system/model_a/model_b/human) with ``judges`` on a pool of ``actors`` Ray actors;
    returns a Dataset of judgments (one row per call, the columns of ``RankResult.judgments``).

    ``store``: a SQLite path every actor writes to as calls finish (a rerun resumes without repeating
    a call); ``{node}`` in it is replaced by the Ray node id (one file per node, to merge later).
    Without a store the calls are kept nowhere but in the returned Dataset. Pairs without an ``id``
    get the content id, as in ``rank_pairs``, so ids are stable across batches and reruns.
    """
    try:
        import ray  # noqa: F401
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ConfigError('prefjudge.integrations.ray needs Ray Data: pip install "prefjudge[ray]"') from exc
    if order not in ("random", "both", "fixed"):
        raise InputError(f"order must be 'random', 'both' or 'fixed', not {order!r}", field="order")
    if actors < 1 or batch_size < 1:
        raise InputError("actors and batch_size must be at least 1", field="actors" if actors < 1 else "batch_size")
    from prefjudge.judging.rank_pairs import resolve_judges

    judge_list, _ = resolve_judges(judges)
    for j in judge_list:
        j.preflight()  # a bad template or key fails here, before Ray starts any actor
    return ds.map_batches(
        _JudgeActor, fn_constructor_args=(judges, order, seed, str(store) if store is not None else None),
        batch_format="pandas", batch_size=batch_size, compute=_pool(actors), num_cpus=num_cpus_per_actor,
    )


def _pool(actors: int) -> Any:
    """A fixed pool of ``actors`` actors (Ray's ``compute=ActorPoolStrategy``; ``concurrency=`` is deprecated)."""
    from ray.data import ActorPoolStrategy

    return ActorPoolStrategy(size=actors)
