"""to_preferences on hand-built RankResults: selection thresholds, formats, kept columns, bad input."""

from __future__ import annotations

import pytest
from _curate_helpers import LONG_OK, make_result, three_judges

import prefjudge.curate as pc
from prefjudge.errors import InputError


def _specs():
    return [
        {"id": "p1", "prompt": "Q1?", "a": "Alpha answer.", "b": "Beta answer.", "model_a": "gpt-4o", "model_b": "llama-3",
         "verdicts": three_judges("a")},
        {"id": "p2", "prompt": "Q2?", "a": "A two.", "b": "B two.", "model_a": "gpt-4o", "model_b": "llama-3",
         "verdicts": three_judges("b", n_agree=2)},
        {"id": "p3", "prompt": "Q3?", "a": "A three.", "b": "B three.", "verdicts": [("j1", "ab", "tie"), ("j2", "ab", "tie")]},
        {"id": "p4", "prompt": "Q4?", "a": "A four.", "b": "B four.", "verdicts": [("j1", "ab", None)]},
        {"id": "p5", "prompt": "Q5?", "a": "A five.", "b": "B five.",
         # j1 inconsistent (its vote is a tie), j2 and j3 say a: the per-judge majority is a
         "verdicts": [("j1", "ab", "a"), ("j1", "ba", "b"), ("j2", "ab", "a"), ("j2", "ba", "a"), ("j3", "ab", "a"), ("j3", "ba", "a")]},
    ]


def test_selection_and_kept_columns():
    ps = pc.to_preferences(make_result(_specs()))
    df = ps.to_pandas().set_index("id")
    # p3 tie and p4 failed are gone, the rest kept in input order
    assert list(df.index) == ["p1", "p2", "p5"]
    assert df.loc["p2", "chosen"] == "B two." and df.loc["p2", "rejected"] == "A two."
    assert df.loc["p2", "model_chosen"] == "llama-3" and df.loc["p2", "model_rejected"] == "gpt-4o"
    assert df.loc["p1", "margin"] == pytest.approx(1.0)
    assert df.loc["p2", "margin"] == pytest.approx(1 / 3)  # p_a = 1/3
    assert df.loc["p2", "agreement"] == pytest.approx(2 / 3)
    assert list(df.loc["p1", "judges"]) == ["j1", "j2", "j3"]
    assert bool(df.loc["p5", "consistent"]) is False
    assert df.loc["p1", "len_chosen"] == len("Alpha answer.")
    steps = {s.step: s.removed for s in ps.report.steps}
    assert steps == {"no_verdict": 1, "ties": 1}
    assert set(ps.column_names) >= {"prompt", "chosen", "rejected", *pc.KEPT_COLUMNS}


def test_thresholds_each_remove_the_right_rows():
    ps = pc.to_preferences(make_result(_specs()), min_margin=0.4, drop_inconsistent=True)
    assert [r["id"] for r in ps] == ["p1"]
    steps = {s.step: s.removed for s in ps.report.steps}
    assert steps["inconsistent"] == 1 and steps["min_margin"] == 1  # p5 inconsistent, p2 margin 1/3
    removed = ps.report.removed().set_index("id")["step"].to_dict()
    assert removed == {"p4": "no_verdict", "p3": "ties", "p5": "inconsistent", "p2": "min_margin"}
    ps2 = pc.to_preferences(make_result(_specs()), min_agreement=0.9)
    assert [r["id"] for r in ps2] == ["p1"]  # p2 agreement 2/3, p5 5/6


def test_keeping_ties_marks_them():
    ps = pc.to_preferences(make_result(_specs()), drop_ties=False)
    df = ps.to_pandas().set_index("id")
    assert df.loc["p3", "winner"] == "tie" and df.loc["p3", "margin"] == 0
    assert df.loc["p1", "winner"] == "a"


def test_conversational_format_with_system():
    specs = _specs()[:1]
    specs[0]["system"] = "Be brief."
    row = pc.to_preferences(make_result(specs), format="conversational")[0]
    assert row["prompt"] == [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Q1?"}]
    assert row["chosen"] == [{"role": "assistant", "content": "Alpha answer."}]
    assert row["rejected"] == [{"role": "assistant", "content": "Beta answer."}]


def test_standard_format_with_chat_template_name_and_jinja():
    ps = pc.to_preferences(make_result(_specs()[:1]), chat_template="chatml")
    row = ps[0]
    assert row["prompt"] == "<|im_start|>user\nQ1?<|im_end|>\n<|im_start|>assistant\n"
    assert row["chosen"] == "Alpha answer.<|im_end|>"
    jinja = "{% for m in messages %}[{{ m['role'] }}] {{ m['content'] }}\n{% endfor %}{% if add_generation_prompt %}[assistant] {% endif %}"
    row = pc.to_preferences(make_result(_specs()[:1]), chat_template=jinja)[0]
    assert row["prompt"] == "[user] Q1?\n[assistant] " and row["chosen"] == "Alpha answer."


def test_chat_template_with_conversational_is_an_error():
    with pytest.raises(InputError, match="chat_template"):
        pc.to_preferences(make_result(_specs()), format="conversational", chat_template="chatml")


def test_preference_table_input_and_complete_sentence_filters():
    rows = [
        {"prompt": "Write about X.", "chosen": LONG_OK, "rejected": "meh"},
        {"prompt": "Write about Y.", "chosen": "too short.", "rejected": "meh"},
        {"prompt": "Write about Z.", "chosen": LONG_OK.lower(), "rejected": "meh"},
        {"prompt": "Write about W.", "chosen": LONG_OK.rstrip(".") + " and no end", "rejected": "meh"},
    ]
    ps = pc.to_preferences(rows, filters=pc.complete_sentence_filters(100))
    assert [r["prompt"] for r in ps] == ["Write about X."]
    assert [(s.step, s.removed) for s in ps.report.steps if s.step.startswith("filter:")] == [
        ("filter:min_chosen_chars", 1), ("filter:chosen_starts_upper", 1), ("filter:chosen_ends_with", 1)]


def test_user_predicate_and_its_errors():
    rows = [{"prompt": "a", "chosen": "keep me", "rejected": "x"}, {"prompt": "b", "chosen": "drop me", "rejected": "x"}]

    def no_drop(row):
        return "drop" not in row["chosen"]

    ps = pc.to_preferences(rows, filters=[no_drop])
    assert [r["chosen"] for r in ps] == ["keep me"] and ps.report.steps[-1].step == "filter:no_drop"
    with pytest.raises(InputError, match="must return True"):
        pc.to_preferences(rows, filters=[lambda r: None])
    with pytest.raises(InputError, match="KeyError"):
        pc.to_preferences(rows, filters=[lambda r: r["nope"]])


def test_margin_threshold_on_table_without_margin_is_an_error():
    with pytest.raises(InputError, match="field 'margin'"):
        pc.to_preferences([{"prompt": "a", "chosen": "b", "rejected": "c"}], min_margin=0.5)


@pytest.mark.parametrize("row,field", [
    ({"prompt": "p", "chosen": "", "rejected": "r"}, "chosen"),
    ({"prompt": "p", "chosen": "c", "rejected": 3}, "rejected"),
    ({"prompt": None, "chosen": "c", "rejected": "r"}, "prompt"),
    ({"prompt": [{"role": "user"}], "chosen": "c", "rejected": "r"}, "prompt"),
    ({"prompt": "p", "chosen": [{"role": "user", "content": "c"}], "rejected": "r"}, "chosen"),
])
def test_bad_rows_name_row_and_field(row, field):
    good = {"prompt": "p0", "chosen": "c0", "rejected": "r0"}
    with pytest.raises(InputError) as e:
        pc.to_preferences([good, row])
    assert e.value.row == 1 and e.value.field == field
    assert "row 1" in str(e.value)


def test_missing_columns_named():
    with pytest.raises(InputError, match="rejected"):
        pc.to_preferences([{"prompt": "p", "chosen": "c"}])


def test_identical_rows_get_numbered_ids_and_user_ids_must_be_unique():
    row = {"prompt": "p", "chosen": "c", "rejected": "r"}
    ps = pc.to_preferences([row, dict(row), dict(row)])
    ids = [r["id"] for r in ps]
    assert len(set(ids)) == 3 and ids[1] == ids[0] + "-1"
    assert len(pc.to_preferences([row, dict(row)], dedup="exact")) == 1
    with pytest.raises(InputError, match="duplicate id 'x'") as e:
        pc.to_preferences([{**row, "id": "x"}, {**row, "id": "x"}])
    assert e.value.row == 1


def test_preference_set_delegates_to_its_dataset():
    ps = pc.to_preferences([{"prompt": f"p{i}", "chosen": "c", "rejected": "r"} for i in range(20)])
    split = ps.train_test_split(test_size=0.1, seed=0)
    assert (len(split["train"]), len(split["test"])) == (18, 2) and ps.num_rows == 20
    assert "20 pairs from 20" in repr(ps)
