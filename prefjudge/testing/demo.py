"""Demo data with a known latent truth: prompts, and pairs of simulated answers.

>>> pairs = make_demo_pairs(3, seed=1)
>>> sorted(pairs[0])
['id', 'model_a', 'model_b', 'prompt', 'quality_a', 'quality_b', 'response_a', 'response_b']
>>> pairs == make_demo_pairs(3, seed=1), pairs == make_demo_pairs(3, seed=2)
(True, False)
"""

from __future__ import annotations

from collections.abc import Sequence

from prefjudge.families import infer_family
from prefjudge.testing.sim import SimGenerator, SimWorld, default_sim_generators, seeded_rng

_TASKS = (
    "Explain how {t} works to a beginner.",
    "What are the main advantages and drawbacks of {t}?",
    "Give three practical tips about {t}.",
    "Summarise the history of {t} in a short paragraph.",
    "How would you teach {t} to a ten-year-old?",
    "Compare {t} with a common alternative.",
    "What mistakes do people often make with {t}?",
    "Write a short note that explains why {t} matters.",
)
_TOPICS = (
    "photosynthesis", "compound interest", "binary search", "the water cycle", "public key cryptography",
    "sourdough baking", "gradient descent", "supply and demand", "version control", "plate tectonics",
    "vaccination", "recursion", "solar panels", "the French revolution", "unit testing", "sleep hygiene",
    "container shipping", "the immune system", "hash tables", "time management", "climate models",
    "bicycle maintenance", "orbital mechanics", "the printing press", "database indexes", "composting",
)


def make_demo_prompts(n: int, seed: int = 0) -> list[str]:
    """``n`` distinct-looking user prompts (instructions about everyday and technical topics)."""
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    combos = [task.format(t=topic) for task in _TASKS for topic in _TOPICS]
    seeded_rng(seed, "demo-prompts").shuffle(combos)
    # Past the number of distinct combinations, a suffix keeps prompts unique.
    return [combos[i % len(combos)] + (f" (variant {i // len(combos)})" if i >= len(combos) else "")
            for i in range(n)]


def make_demo_candidates(world: SimWorld, n_prompts: int, n: int, seed: int = 0,
                         key: tuple = ("demo-candidates",)) -> list[dict]:
    """``n`` answers to each of ``n_prompts`` demo prompts by the default writers in turn, each
    registered in ``world`` with its latent quality: rows of ``prompt_id``, ``prompt``, ``response``,
    ``model`` and ``quality``. ``key`` names the random stream (with ``seed``, the prompt's and the
    answer's index)."""
    gens = default_sim_generators()
    rows = []
    for pi, prompt in enumerate(make_demo_prompts(n_prompts, seed)):
        for k in range(n):
            g = gens[k % len(gens)]
            text, q = g.draw(seeded_rng(seed, *key, pi, k))
            world.register(text, quality=q, model=g.name, family=g.family)
            rows.append({"prompt_id": f"p{pi}", "prompt": prompt, "response": text, "model": g.name, "quality": q})
    return rows


def _generators(models: Sequence[SimGenerator | str] | None) -> list[SimGenerator]:
    gens = [SimGenerator(name=m) if isinstance(m, str) else m for m in (models or default_sim_generators())]
    if not gens:
        raise ValueError("models must name at least one generator")
    return gens


def make_demo_pairs(n: int = 100, seed: int = 0, world: SimWorld | None = None,
                    models: Sequence[SimGenerator | str] | None = None) -> list[dict]:
    """``n`` pairs of answers written by simulated ``models`` (default: the three demo writers).

    Each row has ``id``, ``prompt``, ``response_a``, ``response_b``, ``model_a``, ``model_b`` and
    the latent truth ``quality_a``, ``quality_b``. Two different writers answer each prompt
    (when there are two or more), so lengths, list use and families vary. With ``world``, every
    response is registered there (quality, model, family); :func:`register_pairs` does it later.
    """
    gens = _generators(models)
    rows = []
    for i, prompt in enumerate(make_demo_prompts(n, seed)):
        rng = seeded_rng(seed, "demo-pair", i)
        gen_a, gen_b = rng.sample(gens, 2) if len(gens) >= 2 else (gens[0], gens[0])
        text_a, quality_a = gen_a.draw(rng)
        text_b, quality_b = gen_b.draw(rng)
        while text_b == text_a:
            text_b, quality_b = gen_b.draw(rng)
        rows.append({
            "id": f"demo-{seed}-{i}", "prompt": prompt, "response_a": text_a, "response_b": text_b,
            "model_a": gen_a.name, "model_b": gen_b.name, "quality_a": quality_a, "quality_b": quality_b,
        })
    if world is not None:
        register_pairs(world, rows, families={g.name: g.family for g in gens if g.family})
    return rows


def register_pairs(world: SimWorld, pairs: Sequence[dict], families: dict[str, str] | None = None) -> None:
    """Register both responses of each row (``quality_*``, ``model_*``) in ``world``."""
    for row in pairs:
        for side in ("a", "b"):
            model = row.get(f"model_{side}")
            family = infer_family(model, families) if model else None
            world.register(row[f"response_{side}"], quality=row.get(f"quality_{side}"), model=model, family=family)
