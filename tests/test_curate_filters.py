"""Dedup, decontamination and length balance: rows that must go, rows that must stay, and the report."""

from __future__ import annotations

import random

import pytest

import prefjudge.curate as pc
from prefjudge.errors import InputError


def _rows(prompts, chosen="Fine answer.", rejected="Other answer."):
    return [{"id": f"r{i}", "prompt": p, "chosen": chosen, "rejected": rejected} for i, p in enumerate(prompts)]


def test_exact_dedup_normalizes_case_space_and_punctuation():
    rows = _rows(["What is DPO?", "what  is dpo", "What is PPO?", "WHAT IS DPO!!"])
    ps = pc.to_preferences(rows, dedup="exact")
    assert [r["id"] for r in ps] == ["r0", "r2"]
    removed = ps.report.removed()
    assert set(removed["id"]) == {"r1", "r3"} and removed["reason"].str.contains("duplicate of r0").all()


def test_near_dedup_removes_paraphrase_keeps_distinct():
    rows = _rows([
        "Write a short poem about the sea at night.",
        "write a SHORT poem about the sea, at night please",  # near duplicate (Jaccard ~0.84)
        "Write a short poem about the mountains in winter.",  # distinct (~0.45)
        "Summarize the causes of the French Revolution.",
    ])
    ps = pc.to_preferences(rows, dedup=0.8)
    assert [r["id"] for r in ps] == ["r0", "r2", "r3"]
    assert [s.step for s in ps.report.steps][-2:] == ["dedup:exact", "dedup:near"]
    assert ps.report.steps[-1].removed == 1


def test_dedup_keep_max_margin():
    rows = _rows(["Same prompt", "same prompt", "Other"])
    for r, m in zip(rows, [0.2, 0.9, 0.5]):
        r["margin"] = m
    ps = pc.to_preferences(rows, dedup={"exact": True, "keep": "max_margin"})
    assert [r["id"] for r in ps] == ["r1", "r2"]  # input order kept, the better duplicate stays


def test_near_dedup_scales_and_is_exact_about_threshold():
    rng = random.Random(0)
    vocab = [f"w{i}" for i in range(500)]
    base = [" ".join(rng.choices(vocab, k=30)) for _ in range(200)]
    texts = base + [t + " extra" for t in base[:50]]  # 50 near copies
    dups = pc.find_duplicates(texts, exact=True, near=0.8)
    assert dups == {200 + i: i for i in range(50)}


def test_decontamination_drops_overlap_and_keeps_paraphrase():
    bench = {"gsm8k": ["Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in May. "
                       "How many clips did Natalia sell altogether in April and May?"]}
    rows = _rows([
        "natalia sold clips to 48 of her friends in april and then she sold half as many clips in may how many?",  # 13-gram
        "Natalia sells hair clips; in April she sold some to friends. How many in total?",  # paraphrase: stays
        "Explain photosynthesis.",
    ])
    rows[2]["chosen"] = ("As in the puzzle where Natalia sold clips to 48 of her friends in April, and then she sold half "
                         "as many clips in May, plants store energy.")  # contamination in the answer
    ps = pc.to_preferences(rows, decontaminate=bench)
    assert [r["id"] for r in ps] == ["r1"]
    why = ps.report.removed().set_index("id")["reason"]
    assert why["r0"].startswith("gsm8k overlap in prompt") and why["r2"].startswith("gsm8k overlap in chosen")
    ps = pc.to_preferences(rows, decontaminate={"benchmarks": bench, "fields": ["prompt"]})
    assert [r["id"] for r in ps] == ["r1", "r2"]


def test_decontamination_short_benchmark_text_matched_whole_and_bad_input():
    idx = pc.NgramIndex(["What is the capital city of France today?", "Too short"], n=13)
    assert idx.match("Quiz: what is the capital city of France today? Paris.")[0] == "benchmark"
    assert idx.match("What is the capital of France?") is None and idx.skipped == 1
    with pytest.raises(InputError, match="one string"):
        pc.NgramIndex("a single string")
    with pytest.raises(InputError, match="row 1"):
        pc.NgramIndex({"b": ["ok text", 5]})


def _length_rows(n_long, n_short, seed=0):
    rng = random.Random(seed)
    rows = []
    for i in range(n_long + n_short):
        short, long = "s" * rng.randint(40, 80), "l" * rng.randint(150, 600)
        c, r = (long, short) if i < n_long else (short, long)
        rows.append({"id": f"r{i}", "prompt": f"Prompt {i}", "chosen": c, "rejected": r, "margin": rng.random()})
    rows.append({"id": "near", "prompt": "Neutral", "chosen": "x" * 100, "rejected": "y" * 110, "margin": 0.0})
    return rows


@pytest.mark.parametrize("mode", ["equal", "match"])
def test_length_balance_brings_share_to_half(mode):
    rows = _length_rows(80, 20)
    assert pc.share_longer(pc.to_preferences(rows).to_pandas()) == (0.8, 100)
    ps = pc.to_preferences(rows, length_balance=mode)
    lb = ps.report.length_balance
    assert lb["before"] == 0.8 and lb["n_before"] == 100
    assert lb["after"] == 0.5
    assert "near" in [r["id"] for r in ps]  # pairs within 30 characters are neutral and stay
    assert ps.report.steps[-1].removed == 60 if mode == "equal" else ps.report.steps[-1].removed >= 60
    assert "50.0% after" in ps.report.to_markdown()


def test_length_balance_equal_drops_lowest_margin_first():
    rows = _length_rows(6, 2)
    ps = pc.to_preferences(rows, length_balance="equal")
    kept_long = [r for r in ps if r["len_chosen"] > r["len_rejected"] + 30]
    long_rows = sorted(rows[:6], key=lambda r: -r["margin"])
    assert sorted(r["id"] for r in kept_long) == sorted(r["id"] for r in long_rows[:2])


def test_length_balance_match_matches_ratio_distribution():
    rng = random.Random(1)
    rows = []
    for i in range(400):  # chosen-longer pairs have big ratios, chosen-shorter small ones: a ratio confound
        big = i % 4 != 0
        base = rng.randint(60, 120)
        other = int(base * (rng.uniform(1.5, 6) if big else rng.uniform(1.5, 2.5)))
        c, r = ("x" * other, "y" * base) if big else ("x" * base, "y" * other)
        rows.append({"id": str(i), "prompt": f"p{i}", "chosen": c, "rejected": r})
    import math

    def mean_abs_logratio(ds, longer):
        v = [abs(math.log(r["len_chosen"] / r["len_rejected"])) for r in ds if (r["len_chosen"] > r["len_rejected"]) == longer]
        return sum(v) / len(v)

    eq = pc.to_preferences(rows, length_balance="equal")
    match = pc.to_preferences(rows, length_balance="match")
    gap_equal = mean_abs_logratio(eq, True) - mean_abs_logratio(eq, False)
    gap_match = abs(mean_abs_logratio(match, True) - mean_abs_logratio(match, False))
    assert gap_equal > 0.4  # equal counts, but chosen-longer pairs still much more unequal in length
    assert gap_match < 0.1
    assert match.report.length_balance["after"] == 0.5


def test_length_balance_bad_mode():
    with pytest.raises(InputError, match="length_balance"):
        pc.to_preferences(_length_rows(2, 2), length_balance="fair")
