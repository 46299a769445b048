"""Jury rules on real judges' recorded verdicts (LLMBar Natural; verdict columns vendored in tests/data/jury-dev).

    /work/main/.venv/bin/python bench/jury_dev.py                                   # the table of docs/juries.md
    /work/main/.venv/bin/python bench/jury_dev.py --reliability dawid_skene_order   # estimated vs measured accuracy
    /work/main/.venv/bin/python bench/jury_dev.py --sim 300 --labelled 30           # the rules on simulated juries

Five LLM evaluators (GPT-4, ChatGPT, ChatGPT-0301, LLaMA2, Falcon) judged the same 100 LLMBar pairs in
both display orders under four prompting styles (the ChatGPT CoT file is absent, so CoT has four judges);
each pair has a gold label. For every style this loads the files into one prefjudge judgments table
(``pair_id`` = the pair number, ``judge`` = the evaluator), empties the gold column, applies every rule
with :func:`prefjudge.aggregation.jury.aggregate` and scores the outcomes against gold, for the whole jury
and for the jury without GPT-4. Only "dawid_skene_semi" sees gold: the labels of ``--labelled`` seeded
random pairs (seeds 0 to ``--seeds`` - 1, averaged), scored on the other pairs only.

A rule's agreement with gold is reported strict (a tie or missing winner counts as wrong) and, when it
differs, with a tie counting half. The best single judge (by agreement per call) is shown by its vote
(its two calls combined through "majority", a split a tie) and by its calls (share equal to gold: the
audit's ``human_agreement``, LLMBar's accuracy).
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import numpy as np
import pandas as pd

DATA = Path(__file__).resolve().parents[1] / "tests" / "data" / "jury-dev"  # verdict columns of ../shared/data/jury-dev
STYLES = ("Vanilla", "CoT", "Swap", "Reference")
JUDGES = ("GPT-4", "ChatGPT", "ChatGPT-0301", "LLaMA2", "Falcon")
STRONG = "GPT-4"
_FILE = re.compile(r"^LLMBar_Natural-(?P<judge>.+)_(?P<style>[A-Za-z]+)\.jsonl$")


def load_style(style: str, data_dir: Path | str = DATA, judges: tuple[str, ...] | None = None) -> pd.DataFrame:
    """One style's files as one judgments table: pair_id ``llmbar-natural-<n>``, judge = evaluator, gold in ``human``."""
    frames = []
    for path in sorted(Path(data_dir).glob(f"LLMBar_Natural-*_{style}.jsonl")):
        m = _FILE.match(path.name)
        if m is None or m["style"] != style or (judges is not None and m["judge"] not in judges):
            continue
        df = pd.read_json(path, lines=True, dtype={"human": object, "winner": object, "order": object})
        n = df["pair_id"].str.rsplit("-", n=1).str[1]
        df["pair_id"] = "llmbar-natural-" + n
        df["judge"] = m["judge"]
        frames.append(df)
    if not frames:
        raise FileNotFoundError(f"no LLMBar_Natural-*_{style}.jsonl in {data_dir}")
    table = pd.concat(frames, ignore_index=True)
    table["model_a"] = table["model_a"].astype(object).where(table["model_a"].notna(), None)
    table["model_b"] = table["model_b"].astype(object).where(table["model_b"].notna(), None)
    return table


def gold_of(table: pd.DataFrame) -> pd.Series:
    """Gold winner per pair_id."""
    return table.drop_duplicates("pair_id").set_index("pair_id")["human"]


def without_gold(table: pd.DataFrame) -> pd.DataFrame:
    """The table with the gold column emptied (what a label-free rule is given)."""
    return table.assign(human=None)


def agreement(winner: pd.Series, gold: pd.Series) -> tuple[float, float]:
    """(strict, half) agreement of a winner per pair_id with gold over the gold pairs."""
    w = winner.reindex(gold.index)
    hit = (w == gold).to_numpy(float)
    tie = (w == "tie").to_numpy(float)
    return float(hit.mean()), float((hit + 0.5 * tie).mean())


def single_judges(table: pd.DataFrame) -> dict[str, tuple[float, float]]:
    """(strict, half) agreement of each judge alone: its vote (both orders, a split a tie) vs gold."""
    from prefjudge.aggregation.jury import aggregate

    gold = gold_of(table)
    return {j: agreement(aggregate(without_gold(sub), "majority").outcomes["winner"], gold)
            for j, sub in table.groupby("judge", sort=False)}


def run_rules(table: pd.DataFrame, rules: tuple[str, ...]) -> dict[str, tuple[float, float]]:
    """(strict, half) agreement of each rule with gold, the rule never seeing gold."""
    from prefjudge.aggregation.jury import aggregate

    gold = gold_of(table)
    blind = without_gold(table)
    return {r: agreement(aggregate(blind, r).outcomes["winner"], gold) for r in rules}


def semi(table: pd.DataFrame, n_labelled: int, seed: int, rule: str = "dawid_skene_semi") -> tuple[float, float]:
    """Agreement on the unlabelled pairs when ``rule`` sees gold on ``n_labelled`` seeded random pairs."""
    from prefjudge.aggregation.jury import aggregate

    gold = gold_of(table)
    rng = np.random.default_rng(seed)
    shown = set(rng.choice(np.asarray(gold.index), n_labelled, replace=False))
    part = table.assign(human=table["human"].where(table["pair_id"].isin(shown), None))
    hidden = gold[~gold.index.isin(shown)]
    return agreement(aggregate(part, rule).outcomes["winner"], hidden)


def sim_juries():
    """Simulated juries (prefjudge.testing.SimJudge) for ``--sim``: SIMULATED judges, not real LLMs."""
    from prefjudge.testing import SimJudge

    return {
        "one strong, two weak": [SimJudge(name="gpt-sim", noise=0.15), SimJudge(name="claude-sim", noise=1.8, position_bias=0.3),
                                 SimJudge(name="llama-sim", noise=1.8, length_bias=0.5)],
        "five biased, equal noise": [SimJudge(name="gpt-sim", noise=0.5, position_bias=0.3),
                                     SimJudge(name="claude-sim", noise=0.5, length_bias=1.5),
                                     SimJudge(name="llama-sim", noise=0.5, self_bias=1.5),
                                     SimJudge(name="mistral-sim", noise=0.5, list_bias=1.5),
                                     SimJudge(name="qwen-sim", noise=0.5)],
        "LLMBar-like, one strong": [SimJudge(name="gpt-sim", noise=0.25),
                                    SimJudge(name="claude-sim", noise=0.9, position_bias=0.15),
                                    SimJudge(name="mistral-sim", noise=0.9, position_bias=0.1),
                                    SimJudge(name="llama-sim", noise=1.1, position_bias=0.2),
                                    SimJudge(name="qwen-sim", noise=1.5, position_bias=0.5)],
        "four equal": [SimJudge(name=f"{v}-sim", noise=1.0) for v in ("gpt", "claude", "llama", "qwen")],
    }


def run_sim(rules: tuple[str, ...], n_pairs: int, seed: int = 0, order: str = "both", n_labelled: int = 10) -> None:
    """Each simulated jury judges ``n_pairs`` demo pairs over loopback HTTP (``order`` "both" or "random"); every rule is
    scored against the latent truth (a tie counts as wrong), next to the best single judge; "dawid_skene_semi"
    sees the truth of ``n_labelled`` random pairs (seed 0) and is scored on the others."""
    import prefjudge as pj
    from prefjudge.testing import SimServer, SimWorld, make_demo_pairs

    head = ["simulated jury", "best single judge: vote (per call)", *rules, f"dawid_skene_semi ({n_labelled} labels)"]
    print(f"\n### simulated juries, {n_pairs} pairs, order={order}, seed {seed} (agreement with the latent truth)\n")
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for name, sims in sim_juries().items():
        world = SimWorld()
        pairs = make_demo_pairs(n_pairs, seed=seed, world=world)
        with SimServer(judges=sims, world=world, seed=seed) as server:
            judges = [pj.Judge(j.name, base_url=server.base_url, api_key="x") for j in sims]
            res = pj.rank_pairs(pairs, judges=judges, order=order, seed=seed, progress=False)
        table = res.judgments.assign(human=res.judgments["pair_id"].map(
            {p["id"]: "a" if p["quality_a"] > p["quality_b"] else "b" for p in pairs}))
        singles = single_judges(table)
        per_call = _per_call(table)
        best = max(singles, key=lambda j: per_call[j])
        scores = run_rules(table, rules)
        cells = [name, f"{best} {100 * singles[best][0]:.1f} ({100 * per_call[best]:.1f})",
                 *[f"{100 * scores[r][0]:.1f}" for r in rules], f"{100 * semi(table, n_labelled, 0)[0]:.1f}"]
        print("| " + " | ".join(cells) + " |")


def _per_call(table: pd.DataFrame) -> dict[str, float]:
    ok = table[table["winner"].notna()]
    return {j: float((sub["winner"] == sub["human"]).mean()) for j, sub in ok.groupby("judge", sort=False)}


def juries() -> dict[str, tuple[str, ...] | None]:
    """The two juries of the table: every judge, and every judge but GPT-4."""
    return {"all judges": None, f"without {STRONG}": tuple(j for j in JUDGES if j != STRONG)}


def dev_rows(rules: tuple[str, ...], data_dir: Path | str = DATA, n_labelled: int = 10, seeds: int = 20) -> list[dict]:
    """One dict per (jury, style): the best single judge by per-call agreement, its vote and per-call
    agreement, each rule's (strict, half) agreement, and dawid_skene_semi's mean over ``seeds`` label subsets."""
    out = []
    for jury_name, judges in juries().items():
        for style in STYLES:
            table = load_style(style, data_dir, judges)
            singles, per_call = single_judges(table), _per_call(table)
            best = max(per_call, key=lambda j: per_call[j])
            s = [semi(table, n_labelled, seed) for seed in range(seeds)]
            out.append({"jury": jury_name, "style": style, "n_judges": int(table["judge"].nunique()), "best": best,
                        "best_vote": singles[best][0], "best_per_call": per_call[best], "rules": run_rules(table, rules),
                        "semi": (float(np.mean([x[0] for x in s])), float(np.mean([x[1] for x in s])))})
    return out


def print_reliability(rule: str, data_dir: Path | str = DATA) -> None:
    """Each judge's accuracy as ``rule`` estimates it without gold, beside its measured agreement (per call)."""
    from prefjudge.aggregation.jury import aggregate
    from prefjudge.aggregation.reliability import reliability_table

    cols = {}
    for style in STYLES:
        table = load_style(style, data_dir)
        rel = reliability_table(aggregate(without_gold(table), rule), table).set_index("judge")
        cols[style] = {j: f"{100 * r.estimated_accuracy:.1f} / {100 * r.human_agreement:.1f}" for j, r in rel.iterrows()}
    print(f"\n{rule}: estimated accuracy (no gold) / measured agreement with gold, per call\n")
    print("| judge | " + " | ".join(STYLES) + " |")
    print("|" + "---|" * (len(STYLES) + 1))
    for judge in JUDGES:
        print(f"| {judge} | " + " | ".join(cols[s].get(judge, "-") for s in STYLES) + " |")


def main(argv: list[str] | None = None) -> None:
    from prefjudge.aggregation.rules import RULES

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default=str(DATA))
    ap.add_argument("--rules", default=",".join(r for r in RULES if r != "dawid_skene_semi"))
    ap.add_argument("--labelled", type=int, default=10, help="gold labels shown to dawid_skene_semi")
    ap.add_argument("--seeds", type=int, default=20, help="random label subsets averaged for dawid_skene_semi")
    ap.add_argument("--sim", type=int, default=0, metavar="N_PAIRS",
                    help="instead: simulated juries over loopback HTTP on N_PAIRS demo pairs")
    ap.add_argument("--sim-seed", type=int, default=0)
    ap.add_argument("--sim-order", choices=("both", "random"), default="both")
    ap.add_argument("--reliability", metavar="RULE", help="instead: each judge's estimated vs measured accuracy under RULE")
    args = ap.parse_args(argv)
    rules = tuple(r for r in args.rules.split(",") if r)
    if args.sim:
        run_sim(rules, args.sim, args.sim_seed, args.sim_order, args.labelled)
        return
    if args.reliability:
        print_reliability(args.reliability, args.data)
        return
    rows = dev_rows(rules, args.data, args.labelled, args.seeds)
    head = ["jury", "style", "judges", "best single judge", "its vote", "its calls", *rules,
            f"dawid_skene_semi ({args.labelled} labels)"]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for r in rows:
        cells = [r["jury"], r["style"], str(r["n_judges"]), r["best"], f"{100 * r['best_vote']:.1f}",
                 f"{100 * r['best_per_call']:.1f}", *[_fmt(r["rules"][name]) for name in rules], _fmt(r["semi"])]
        print("| " + " | ".join(cells) + " |")


def _fmt(x: tuple[float, float]) -> str:
    """strict, then half in parentheses when it differs."""
    return f"{100 * x[0]:.1f}" + (f" ({100 * x[1]:.1f})" if abs(x[0] - x[1]) > 1e-9 else "")


if __name__ == "__main__":
    main()
