"""prefjudge.integrations.ray: a local Ray cluster (2 CPUs) judges a ray.data.Dataset with an actor
pool against the simulated server over real HTTP; the result equals a single-process run."""

from __future__ import annotations

import pytest

import prefjudge as pj
from prefjudge.testing import SimJudge, SimServer, make_demo_pairs

ray = pytest.importorskip("ray", reason="Ray Data is the [ray] extra")
pytestmark = pytest.mark.slow  # starts a Ray cluster (several seconds)

SIMS = [SimJudge(name="gpt-sim", noise=1.0, position_bias=0.3), SimJudge(name="llama-sim", noise=1.2)]


@pytest.fixture(scope="module")
def ray_cluster():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield
    ray.shutdown()


def test_ray_actor_pool_judges_like_one_process_and_resumes_from_the_store(ray_cluster, tmp_path, sim_world):
    import ray.data

    from prefjudge.integrations.ray import judge_dataset

    pairs = make_demo_pairs(30, seed=9, world=sim_world)
    rows = [p if isinstance(p, dict) else p.model_dump() for p in pairs]
    with SimServer(judges=SIMS, world=sim_world) as server:
        judges = [pj.Judge(s.name, base_url=server.base_url, api_key="x") for s in SIMS]
        ds = ray.data.from_items(rows)
        got = judge_dataset(ds, judges, order="random", seed=3, store=str(tmp_path / "ray.db"), actors=2,
                            batch_size=8).to_pandas()
        calls = server.count_ok()
        assert calls == 30 * 2, "one call per pair and judge (random order), none twice"
        single = pj.rank_pairs(rows, judges, order="random", seed=3, store=tmp_path / "ray.db", progress=False)
        assert server.count_ok() == calls, "the single-process rerun found every call in the Ray run's store"
    assert len(got) == len(single.judgments) == 60
    key = ["pair_id", "judge"]
    a = got.sort_values(key).reset_index(drop=True)
    b = single.judgments.sort_values(key).reset_index(drop=True)
    assert a["order"].tolist() == b["order"].tolist(), "the same seeded display orders as one process"
    assert a["winner"].tolist() == b["winner"].tolist()
    outcomes = pj.aggregate(got).outcomes.sort_index()
    assert outcomes["winner"].tolist() == single.outcomes.sort_index()["winner"].tolist()


def test_ray_refuses_a_bad_order_before_starting_actors(ray_cluster):
    import ray.data

    from prefjudge.errors import InputError
    from prefjudge.integrations.ray import judge_dataset

    with pytest.raises(InputError, match="order"):
        judge_dataset(ray.data.from_items([{"prompt": "p", "response_a": "a", "response_b": "b"}]),
                      pj.Judge("m", base_url="http://127.0.0.1:9/v1", api_key="x"), order="sideways")
