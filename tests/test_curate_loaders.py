"""Each loader on a local fixture written in its dataset's schema; detection; re-judging pairs; bad rows."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from _curate_helpers import LONG_OK

import prefjudge.curate as pc
from prefjudge.curate import loaders
from prefjudge.errors import InputError


def _write(tmp_path, name, rows, kind):
    path = tmp_path / f"{name}.{kind}"
    if kind == "parquet":
        pd.DataFrame(rows).to_parquet(path, index=False)
    else:
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


ORCA = [
    {"system": "You are an AI assistant.", "question": "What is 2+2?", "chosen": "It is 4.", "rejected": "5"},
    {"system": "", "question": "Name a color.", "chosen": "Blue.", "rejected": "Car."},
]
ORCA_OLD = [{"system": "", "question": "Q?", "chatgpt": "Good.", "llama2-13b-chat": "Bad."}]
DISTILABEL = [
    {"system": "", "input": "Q1", "chosen": "C1", "rejected": "R1", "status": "unchanged", "chosen_score": 9.0,
     "in_gsm8k_train": False, "generations": ["C1", "R1"], "rating": [9.0, 4.0]},
    {"system": "", "input": "Q2", "chosen": "C2", "rejected": "R2", "status": "tie", "chosen_score": 8.0,
     "in_gsm8k_train": False, "generations": ["C2", "R2"], "rating": [8.0, 8.0]},
    {"system": "", "input": "Q3", "chosen": "C3", "rejected": "R3", "status": "swapped", "chosen_score": 9.5,
     "in_gsm8k_train": False, "generations": ["R3", "C3"], "rating": [3.0, 9.5]},
    {"system": "", "input": "Q4", "chosen": "C4", "rejected": "R4", "status": "unchanged", "chosen_score": 6.0,
     "in_gsm8k_train": False, "generations": ["C4", "R4"], "rating": [6.0, 2.0]},
    {"system": "", "input": "Q5", "chosen": "C5", "rejected": "R5", "status": "unchanged", "chosen_score": 10.0,
     "in_gsm8k_train": True, "generations": ["C5", "R5"], "rating": [10.0, 2.0]},
]
STACK = [{"qid": 12, "question": "How do I sort a list?", "date": "2020-01-01", "metadata": ["url"],
          "response_j": "Use sorted().", "response_k": "You can't."}]
HH = [{"chosen": "\n\nHuman: Hi\n\nAssistant: Hello!\n\nHuman: Tell a joke\n\nAssistant: Why did the chicken...",
       "rejected": "\n\nHuman: Hi\n\nAssistant: Hello!\n\nHuman: Tell a joke\n\nAssistant: No."}]
UF = [{"prompt": "Explain DPO", "prompt_id": "abc",
       "chosen": [{"role": "user", "content": "Explain DPO"}, {"role": "assistant", "content": "DPO optimizes..."}],
       "rejected": [{"role": "user", "content": "Explain DPO"}, {"role": "assistant", "content": "Dunno"}],
       "messages": [{"role": "user", "content": "Explain DPO"}, {"role": "assistant", "content": "DPO optimizes..."}],
       "score_chosen": 8.5, "score_rejected": 3.0}]
UF_ARGILLA = [{"source": "evol", "prompt": "Hi",
               "chosen": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}],
               "chosen-rating": 5.0, "chosen-model": "gpt-4",
               "rejected": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Go"}],
               "rejected-rating": 1.0, "rejected-model": "alpaca-7b"}]
ORPO = [{"source": "argilla/Capybara", "prompt": "Q", "question": "Q",
         "chosen": [{"role": "system", "content": "Sys"}, {"role": "user", "content": "Q"}, {"role": "assistant", "content": "Good"}],
         "rejected": [{"role": "system", "content": "Sys"}, {"role": "user", "content": "Q"}, {"role": "assistant", "content": "Bad"}]}]


@pytest.mark.parametrize("rows,schema,kind", [
    (ORCA, "orca_dpo_pairs", "parquet"), (ORCA_OLD, "orca_dpo_pairs", "jsonl"),
    (DISTILABEL, "distilabel_orca", "parquet"), (STACK, "stack_exchange_paired", "parquet"),
    (HH, "hh_rlhf", "jsonl"), (UF, "ultrafeedback_binarized", "parquet"),
    (UF_ARGILLA, "ultrafeedback_binarized", "jsonl"), (ORPO, "orpo_dpo_mix", "parquet"),
])
def test_schema_detected_from_local_file(tmp_path, rows, schema, kind):
    path = _write(tmp_path, schema, rows, kind)
    assert loaders.detect_schema(list(rows[0]), rows[0]) == schema
    ds = pc.load_preferences(str(path))
    assert len(ds) == len(rows)
    assert {"prompt", "chosen", "rejected", "system", "model_chosen", "model_rejected"} <= set(ds.column_names)


def test_orca_mapping(tmp_path):
    ds = pc.load_preferences(str(_write(tmp_path, "orca", ORCA, "parquet")))
    assert ds[0]["prompt"] == "What is 2+2?" and ds[0]["system"] == "You are an AI assistant."
    assert ds[0]["chosen"] == "It is 4." and ds[0]["rejected"] == "5"
    assert ds[1]["system"] is None  # empty system prompt becomes None
    assert (ds[0]["model_chosen"], ds[0]["model_rejected"]) == ("chatgpt", "llama-2-13b-chat")
    old = pc.load_preferences(str(_write(tmp_path, "old", ORCA_OLD, "jsonl")))
    assert (old[0]["chosen"], old[0]["rejected"]) == ("Good.", "Bad.")


def test_distilabel_mapping_and_distilabel_orca_filters(tmp_path):
    ds = pc.load_preferences(str(_write(tmp_path, "d", DISTILABEL, "parquet")))
    assert ds[0]["prompt"] == "Q1" and ds[2]["model_chosen"] == "llama-2-13b-chat"  # swapped: Llama's answer won
    ps = pc.to_preferences(ds, filters=pc.distilabel_orca_filters())
    assert [r["prompt"] for r in ps] == ["Q1", "Q3"]
    removed = ps.report.removed().set_index("id")["step"].tolist()
    assert removed == ["filter:status_not_tie", "filter:min_chosen_score", "filter:not_in_gsm8k_train"]


def test_stack_exchange_hh_ultrafeedback_orpo_mappings(tmp_path):
    se = pc.load_preferences(str(_write(tmp_path, "se", STACK, "parquet")))
    assert (se[0]["prompt"], se[0]["chosen"], se[0]["rejected"], se[0]["qid"]) == (
        "How do I sort a list?", "Use sorted().", "You can't.", "12")
    hh = pc.load_preferences(str(_write(tmp_path, "hh", HH, "jsonl")))
    assert hh[0]["prompt"] == [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"},
                               {"role": "user", "content": "Tell a joke"}]
    assert (hh[0]["chosen"], hh[0]["rejected"]) == ("Why did the chicken...", "No.")
    uf = pc.load_preferences(str(_write(tmp_path, "uf", UF, "parquet")))
    assert uf[0]["prompt"] == [{"role": "user", "content": "Explain DPO"}]
    assert (uf[0]["chosen"], uf[0]["score_chosen"], uf[0]["prompt_id"]) == ("DPO optimizes...", 8.5, "abc")
    ufa = pc.load_preferences(str(_write(tmp_path, "ufa", UF_ARGILLA, "jsonl")))
    assert (ufa[0]["model_chosen"], ufa[0]["model_rejected"], ufa[0]["score_rejected"]) == ("gpt-4", "alpaca-7b", 1.0)
    orpo = pc.load_preferences(str(_write(tmp_path, "orpo", ORPO, "parquet")))
    assert orpo[0]["system"] == "Sys" and orpo[0]["prompt"] == [{"role": "user", "content": "Q"}]
    assert orpo[0]["source"] == "argilla/Capybara"


def test_hub_id_uses_known_schema_and_split(monkeypatch, tmp_path):
    import datasets

    calls = []

    def fake_load(path, split=None, **kw):
        calls.append((path, split))
        return datasets.Dataset.from_list(UF)

    monkeypatch.setattr(datasets, "load_dataset", fake_load)
    ds = pc.load_preferences("HuggingFaceH4/ultrafeedback_binarized")
    assert calls == [("HuggingFaceH4/ultrafeedback_binarized", "train_prefs")] and ds[0]["chosen"] == "DPO optimizes..."


def test_hub_id_with_local_data_files_keeps_schema(tmp_path):
    path = _write(tmp_path, "x", DISTILABEL, "parquet")
    ds = pc.load_preferences("argilla/distilabel-intel-orca-dpo-pairs", data_files=str(path))
    assert ds.column_names[:3] == ["prompt", "chosen", "rejected"] and "status" in ds.column_names


def test_hub_failure_is_a_clear_error(monkeypatch):
    import datasets

    def offline(*a, **k):
        raise ConnectionError("no network")

    monkeypatch.setattr(datasets, "load_dataset", offline)
    with pytest.raises(InputError, match="could not load 'Intel/orca_dpo_pairs'.*data_files"):
        pc.load_preferences("Intel/orca_dpo_pairs")
    with pytest.raises(InputError, match="no such file"):
        pc.load_preferences("/nonexistent/file.parquet")


def test_bad_rows_raise_or_skip(tmp_path, caplog):
    rows = [dict(ORCA[0]), {**ORCA[1], "chosen": ""}, {**ORCA[0], "rejected": None}]
    with pytest.raises(InputError) as e:
        pc.load_preferences(rows, schema="orca_dpo_pairs")
    assert (e.value.row, e.value.field) == (1, "chosen")
    ds = pc.load_preferences(rows, schema="orca_dpo_pairs", on_error="skip")
    assert len(ds) == 1 and "skipped 2 bad row(s)" in caplog.text
    with pytest.raises(InputError, match="field 'question'"):
        pc.load_preferences([{"system": "", "chosen": "a", "rejected": "b"}], schema="orca_dpo_pairs")
    with pytest.raises(InputError, match="differ before their final answer"):
        pc.load_preferences([{**UF[0], "rejected": [{"role": "user", "content": "Other"}, {"role": "assistant", "content": "x"}]}])
    with pytest.raises(InputError, match="cannot tell the dataset schema"):
        pc.load_preferences([{"foo": 1}])


def test_to_pairs_random_order_with_human_label():
    rows = [{"prompt": f"Q{i}", "chosen": f"good {i}", "rejected": f"bad {i}", "model_chosen": "gpt-4o"} for i in range(200)]
    pairs = pc.to_pairs(rows, seed=3)
    firsts = (pairs["human"] == "a").mean()
    assert 0.35 < firsts < 0.65  # a coin per pair, not all on one side
    for r in pairs.to_dict("records"):
        win = r["response_a"] if r["human"] == "a" else r["response_b"]
        assert win.startswith("good") and (r["model_a"] if r["human"] == "a" else r["model_b"]) == "gpt-4o"
    assert pairs.equals(pc.to_pairs(rows, seed=3))  # deterministic
    assert not pairs["human"].equals(pc.to_pairs(rows, seed=4)["human"])
    shuffled = pc.to_pairs(list(reversed(rows)), seed=3).set_index("id")
    assert shuffled.loc[pairs["id"], "human"].tolist() == pairs["human"].tolist()  # independent of row order


def test_to_pairs_feeds_rank_pairs_validation():
    from prefjudge.judging.pairs import normalize_pairs

    ds = pc.load_preferences(HH)
    pairs = normalize_pairs(pc.to_pairs(ds))
    assert pairs[0].human in ("a", "b") and isinstance(pairs[0].prompt, list)


def test_llm_twin_style_table_round_trip():
    rows = [{"prompt": "Write about tea.", "chosen": LONG_OK, "rejected": "Tea is a drink"}]
    ds = pc.load_preferences(rows)
    assert ds[0]["chosen"] == LONG_OK and ds[0]["model_chosen"] is None


def test_card_names_the_source_of_a_loaded_dataset(tmp_path):
    from prefjudge.curate.card import build_card

    path = _write(tmp_path, "orca", ORCA, "parquet")
    prefs = pc.to_preferences(pc.load_preferences(str(path)))
    assert prefs.provenance["source"] == f"{path} (schema orca_dpo_pairs)"
    text = str(build_card(prefs))
    assert f"- Source: `{path} (schema orca_dpo_pairs)`" in text and "labels came with the source data" in text
    assert pc.to_preferences(prefs).provenance["source"] == prefs.provenance["source"]  # re-curating keeps it


def test_recipe_named_filters_keep_working_under_their_old_names_with_a_warning():
    from prefjudge.curate.config import FiltersConfig
    from prefjudge.curate.pipeline import build_filters

    with pytest.warns(DeprecationWarning, match="distilabel_orca_filters"):
        old = pc.seed_filters()
    assert [f.name for f in old] == [f.name for f in pc.distilabel_orca_filters()]
    with pytest.warns(DeprecationWarning, match="complete_sentence_filters"):
        old = pc.llm_twin_filters(50)
    assert [f.name for f in old] == [f.name for f in pc.complete_sentence_filters(50)]
    with pytest.warns(DeprecationWarning, match="filters.distilabel_orca"):
        via_old_key = build_filters(FiltersConfig(seed_filters=True))
    assert [f.name for f in via_old_key] == [f.name for f in build_filters(FiltersConfig(distilabel_orca=True))]
    assert build_filters(FiltersConfig()) == []
