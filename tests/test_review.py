"""pj.review without a server: which pairs are selected, the tasks' JSON and display order, the
annotations mapped back to a/b, the labels in the data the audit reads, and the errors.
(tests/test_review_server.py runs the same against a real Label Studio.)"""

from __future__ import annotations

import subprocess
import sys
import xml.etree.ElementTree as ET

import pandas as pd
import pytest

import prefjudge as pj
from prefjudge.errors import ConfigError, InputError
from prefjudge.integrations.review import ReviewProject, ReviewTask, select_pairs, with_human
from prefjudge.integrations.review.tasks import LABEL_CONFIG, build_tasks, display_orders, human_labels, labels_table

JUDGES = ("j1", "j2", "j3")
# pair -> each judge's verdicts in the orders ab and ba (already mapped back to a/b)
VERDICTS = {
    "p0": [("a", "a"), ("b", "b"), ("tie", "tie")],  # votes split three ways: the most contested
    "p1": [("a", "a"), ("a", "a"), ("b", "b")],      # 2-1, every judge consistent
    "p2": [("a", "b"), ("a", "a"), ("a", "a")],      # j1 flips with the order (its vote: a tie)
    "p3": [("a", "b"), ("b", "a"), ("a", "a")],      # two judges flip
    **{f"p{i}": [("a", "a")] * 3 for i in range(4, 10)},  # unanimous and consistent
}


def judgments(verdicts=VERDICTS, texts=True) -> pd.DataFrame:
    rows = []
    for pid, per_judge in verdicts.items():
        for judge, pair in zip(JUDGES, per_judge):
            for order, winner in zip(("ab", "ba"), pair):
                row = {"pair_id": pid, "judge": judge, "order": order, "winner": winner}
                if texts:
                    row |= {"prompt": f"question {pid}?", "response_a": f"answer A of {pid}", "response_b": f"answer B of {pid}"}
                rows.append(row)
    return pd.DataFrame(rows)


def test_the_most_contested_then_the_inconsistent_then_a_seeded_random_sample():
    sel = select_pairs(judgments(), n_contested=2, n_inconsistent=1, n_random=3, seed=0)
    reasons = dict(zip(sel["pair_id"], sel["selected_because"]))
    # contested: p0 (agreement 1/3), then p1 (2/3, p_a 0.67: nearer 0.5 than p2's 0.83; before p3 by order)
    assert [p for p, r in reasons.items() if "contested" in r] == ["p0", "p1"]
    # inconsistent among the rest: p3 (two judges flipped) before p2 (one)
    assert [p for p, r in reasons.items() if "inconsistent" in r] == ["p3"]
    randoms = [p for p, r in reasons.items() if "random" in r]
    assert len(randoms) == 3 and set(randoms) <= set(VERDICTS)
    assert list(sel["pair_id"][:3]) == ["p0", "p1", "p3"]
    assert len(sel) == len(set(sel["pair_id"])) == len({"p0", "p1", "p3", *randoms})
    row = sel.set_index("pair_id").loc["p0"]
    assert (row["votes_a"], row["votes_b"], row["votes_tie"], row["n_votes"]) == (1, 1, 1, 3)
    assert row["agreement"] == pytest.approx(1 / 3) and row["winner"] == "tie"
    assert row["why"].startswith("contested") and "a 1, b 1, tie 1 (agreement 0.33)" in row["why"]
    p3 = sel.set_index("pair_id").loc["p3"]
    assert p3["n_inconsistent_judges"] == 2 and "2 judges changed verdict when the display order was swapped" in p3["why"]
    assert row["response_a"] == "answer A of p0" and row["prompt"] == "question p0?"


def test_the_random_sample_is_seeded_and_drawn_from_every_pair():
    def draw(seed):
        sel = select_pairs(judgments(), n_contested=0, n_inconsistent=0, n_random=4, seed=seed)
        return list(sel["pair_id"])

    assert draw(0) == draw(0)
    assert len({tuple(draw(s)) for s in range(6)}) > 1
    everything = select_pairs(judgments(), n_contested=0, n_inconsistent=0, n_random=50, seed=0)
    assert sorted(everything["pair_id"]) == sorted(VERDICTS)  # capped at the pairs there are


def test_a_pair_picked_twice_is_one_task_with_both_reasons():
    sel = select_pairs(judgments(), n_contested=10, n_inconsistent=0, n_random=10, pair_ids=["p5"], seed=0)
    assert len(sel) == 10
    reasons = dict(zip(sel["pair_id"], sel["selected_because"]))
    assert reasons["p5"] == ["chosen", "random"] and reasons["p0"] == ["contested", "random"]
    assert sel["pair_id"].iloc[0] == "p5"


def test_pairs_without_texts_are_never_selected():
    table = judgments()
    table.loc[table["pair_id"] == "p0", "response_b"] = None
    sel = select_pairs(table, n_contested=5, n_inconsistent=5, n_random=20)
    assert "p0" not in set(sel["pair_id"]) and len(sel) == 9
    with pytest.raises(InputError, match="lacks its prompt or a response") as e:
        select_pairs(table, pair_ids=["p0"])
    assert e.value.field == "pair_ids"
    with pytest.raises(InputError, match="no pair has its prompt and both responses"):
        select_pairs(judgments(texts=False))


@pytest.mark.parametrize("kwargs,field", [({"n_random": -1}, "n_random"), ({"n_contested": 1.5}, "n_contested"),
                                          ({"pair_ids": ["nope"]}, "pair_ids"), ({"pair_ids": "p1"}, "pair_ids"),
                                          ({"close": 0.7}, "close")])
def test_bad_arguments_name_their_field(kwargs, field):
    with pytest.raises(InputError) as e:
        select_pairs(judgments(), **kwargs)
    assert e.value.field == field


def test_a_rank_result_uses_its_recorded_outcomes():
    result = pj.aggregate(judgments(), aggregate="majority")
    sel = select_pairs(result, n_contested=3, n_inconsistent=0, n_random=0)
    assert list(sel["pair_id"]) == ["p0", "p1", "p3"]
    assert list(sel["winner"]) == [result.outcomes.loc[p, "winner"] for p in sel["pair_id"]]


def test_tasks_show_the_answers_in_a_balanced_recorded_order():
    sel = select_pairs(judgments(), n_contested=0, n_inconsistent=0, n_random=10, seed=3)
    tasks = build_tasks(sel, seed=3)
    sides = [t["meta"]["prefjudge"]["answer_1"] for t in tasks]
    assert sides.count("a") == sides.count("b") == 5
    assert sides == display_orders(10, 3) and display_orders(10, 3) != display_orders(10, 4)
    for task, row in zip(tasks, sel.to_dict("records")):
        meta = task["meta"]["prefjudge"]
        assert set(task["data"]) == {"prompt", "answer_1", "answer_2"}  # the reviewer sees nothing else
        assert meta["pair_id"] == row["pair_id"] and meta["selected_because"] == ["random"] and meta["seed"] == 3
        first, second = (row["response_a"], row["response_b"])[:: 1 if meta["answer_1"] == "a" else -1]
        assert task["data"]["answer_1"] == first and task["data"]["answer_2"] == second


def test_a_chat_prompt_is_shown_as_text():
    sel = pd.DataFrame([{"pair_id": "c1", "prompt": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi?"},
                                                     {"role": "assistant", "content": "Hello."}, {"role": "user", "content": "Bye?"}],
                         "response_a": "x", "response_b": "y", "selected_because": ["chosen"], "why": "chosen"}])
    assert build_tasks(sel)[0]["data"]["prompt"] == "User: Hi?\n\nAssistant: Hello.\n\nUser: Bye?"


def test_the_label_config_names_what_the_tasks_hold():
    root = ET.fromstring(LABEL_CONFIG)
    assert {t.get("name"): t.get("value") for t in root.iter("Text")} == {
        "prompt": "$prompt", "answer_1": "$answer_1", "answer_2": "$answer_2"}
    (choices,) = root.iter("Choices")
    assert choices.get("name") == "preference" and choices.get("toName") == "prompt" and choices.get("required") == "true"
    assert [c.get("alias") for c in choices.iter("Choice")] == ["1", "2", "tie"]


def _task(tid, pid, side, *annotations, reasons=("random",)):
    return {"id": tid, "data": {}, "meta": {"prefjudge": {"pair_id": pid, "answer_1": side, "selected_because": list(reasons)}},
            "annotations": [{"id": 100 + k, "completed_by": k, "was_cancelled": cancelled,
                             "result": [{"from_name": "preference", "to_name": "prompt", "type": "choices", "value": {"choices": [c]}}]}
                            for k, (c, cancelled) in enumerate(annotations)]}


def test_choices_are_mapped_back_through_the_recorded_order():
    tasks = [_task(1, "p1", "a", ("1", False)), _task(2, "p2", "b", ("1", False)), _task(3, "p3", "b", ("2", False)),
             _task(4, "p4", "a", ("tie", False)), _task(5, "p5", "b", ("Answer 2 is better", False)),
             _task(6, "p6", "b", ("2", True)),  # skipped: left out
             {"id": 7, "data": {"text": "not ours"}, "meta": {}, "annotations": [{"id": 9, "result": []}]},  # not prefjudge's
             _task(8, "p8", "a")]  # nobody labelled it yet
    labels = labels_table(tasks)
    assert dict(zip(labels["pair_id"], labels["human"])) == {"p1": "a", "p2": "b", "p3": "a", "p4": "tie", "p5": "a"}
    assert list(labels["choice"]) == ["1", "1", "2", "tie", "2"] and list(labels["task_id"]) == [1, 2, 3, 4, 5]


def test_an_unknown_choice_names_the_task():
    with pytest.raises(InputError, match="task 3") as e:
        labels_table([_task(3, "p3", "a", ("maybe", False))])
    assert e.value.field == "preference"


def test_several_reviewers_give_their_most_frequent_label():
    labels = labels_table([_task(1, "p1", "b", ("1", False), ("1", False), ("2", False)), _task(2, "p2", "a", ("1", False), ("2", False))])
    assert human_labels(labels) == {"p1": "b", "p2": None}  # p2: the reviewers split


def test_collected_labels_reach_the_audit_for_a_rank_result_and_a_table():
    result = pj.aggregate(judgments(), aggregate="majority")
    jury = result.outcomes["winner"]
    human = {"p1": "a", "p2": "b", "p4": "a", "p5": "tie"}  # jury: a, a, a, a -> 2 of 4 agree
    labelled = with_human(result, human)
    assert type(labelled) is type(result) and result.pairs["human"].isna().all()  # the input is left as it was
    assert dict(zip(labelled.pairs["id"], labelled.pairs["human"])) == {p: human.get(p) for p in VERDICTS}
    report = pj.audit(labelled).to_dict()
    entry = report["jury"]["human_agreement"]
    assert report["meta"]["n_pairs_with_human"] == 4 and entry["n"] == 4
    assert entry["value"] == pytest.approx(sum(jury[p] == h for p, h in human.items()) / 4)
    table = with_human(judgments(), human)
    assert isinstance(table, pd.DataFrame) and set(table.loc[table["pair_id"] == "p2", "human"]) == {"b"}
    assert pj.audit(table).to_dict()["jury"]["human_agreement"]["n"] == 4


def test_labels_replace_old_ones_only_for_reviewed_pairs():
    table = judgments()
    table["human"] = "b"
    out = with_human(table, {"p1": "a", "p2": None})
    by_pair = out.groupby("pair_id")["human"].first()
    assert by_pair["p1"] == "a" and by_pair["p2"] is None and by_pair["p3"] == "b"


def test_labels_for_pairs_that_are_not_in_the_data():
    with pytest.warns(UserWarning, match="1 reviewed pair"):
        with_human(judgments(), {"p1": "a", "zzz": "b"})
    with pytest.raises(InputError, match="none of the 1 reviewed pairs"):
        with_human(judgments(), {"zzz": "b"})


def test_the_project_record_round_trips_as_json():
    project = ReviewProject(url="http://127.0.0.1:8080", project_id=3, title="review", seed=0, tasks=[
        ReviewTask(pair_id="p0", task_id=1, answer_1="b", selected_because=["contested", "random"], why="w"),
        ReviewTask(pair_id="p3", task_id=2, answer_1="a", selected_because=["inconsistent"], why="w")])
    again = ReviewProject.model_validate_json(project.model_dump_json())
    assert again == project and again.pair_ids("random") == ["p0"] and again.pair_ids() == ["p0", "p3"]
    assert repr(project) == "ReviewProject(2 tasks in Label Studio project 3 at http://127.0.0.1:8080: contested 1, inconsistent 1, random 1)"
    assert list(project.to_pandas()["task_id"]) == [1, 2]


def test_without_the_sdk_the_error_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "label_studio_sdk", None)  # import label_studio_sdk raises ImportError
    with pytest.raises(ConfigError, match=r'pip install "prefjudge\[review\]"'):
        pj.review.export(judgments(), url="http://127.0.0.1:9", api_key="not-a-real-key", n_random=2)


def test_without_a_url_or_key_the_error_names_the_variables(monkeypatch):
    monkeypatch.delenv("LABEL_STUDIO_URL", raising=False)
    monkeypatch.delenv("LABEL_STUDIO_API_KEY", raising=False)
    with pytest.raises(ConfigError, match="LABEL_STUDIO_URL"):
        pj.review.export(judgments(), api_key="k" * 10)
    with pytest.raises(ConfigError, match="LABEL_STUDIO_API_KEY"):
        pj.review.collect(3, judgments(), url="http://127.0.0.1:9")


def test_pj_review_is_the_module_and_importing_prefjudge_does_not_load_the_sdk():
    code = ("import sys, prefjudge as pj, prefjudge.integrations.review as r; "
            "print(pj.review is r, callable(pj.review.export), callable(pj.review.collect), 'label_studio_sdk' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["True", "True", "True", "False"]
