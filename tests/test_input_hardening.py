"""Bad input that used to pass validation and crash mid-run: text that cannot be encoded, odd
column labels, null ids in judgments tables, NaN for failures, path escapes in export, odd files."""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest

import prefjudge as pj
from prefjudge.errors import InputError
from prefjudge.io import read_table
from prefjudge.judgments import normalize_judgments, read_judgments_file, write_judgments
from prefjudge.testing.scripted import ScriptedServer

SURROGATE, NUL = "\ud800", "\x00"
TEXT_FIELDS = ("prompt", "response_a", "response_b", "system", "model_a", "model_b", "id")


def _rows(n=3):
    return [{"id": f"p{i}", "prompt": f"Question {i}?", "response_a": f"Answer A{i}.", "response_b": f"Answer B{i}."}
            for i in range(n)]


@pytest.fixture
def server():
    with ScriptedServer(lambda body: "[[A]]") as s:
        yield s


def _judge(server, name="gpt-x", **kw):
    return pj.Judge(name, base_url=server.base_url, api_key="x", **kw)


# ---- 1. text that cannot travel -------------------------------------------------------------------

@pytest.mark.timeout(60)
@pytest.mark.parametrize("bad", [SURROGATE, NUL], ids=["surrogate", "nul"])
@pytest.mark.parametrize("field", TEXT_FIELDS)
def test_unencodable_text_is_refused_before_any_call(server, field, bad):
    rows = _rows()
    rows[1][field] = f"text {bad} here"
    with pytest.raises(InputError) as e:
        pj.rank_pairs(rows, _judge(server), progress=False)
    assert e.value.row == 1 and e.value.field == field
    assert ("NUL" in str(e.value)) if bad == NUL else ("surrogate" in str(e.value))
    assert server.requests == []  # refused before the first call


@pytest.mark.timeout(60)
@pytest.mark.parametrize("bad", [SURROGATE, NUL], ids=["surrogate", "nul"])
def test_chat_prompt_names_the_message(server, bad):
    rows = _rows()
    rows[2]["prompt"] = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"},
                         {"role": "user", "content": "Say " + bad}]
    with pytest.raises(InputError) as e:
        pj.rank_pairs(rows, _judge(server), progress=False)
    assert e.value.row == 2 and e.value.field == "prompt" and "message 2" in str(e.value) and "content" in str(e.value)
    assert server.requests == []


def test_other_control_characters_are_fine():
    from prefjudge.judging.pairs import normalize_pairs

    rows = _rows(1)
    rows[0]["response_a"] = "tab\there, bell \x07, escape \x1b[0m, form feed \x0c"
    assert normalize_pairs(rows)[0].response_a == rows[0]["response_a"]


def test_chat_message_extra_fields_must_be_plain_values():
    from prefjudge.judging.pairs import normalize_pairs

    rows = _rows(1)
    rows[0]["prompt"] = [{"role": "user", "content": "Hi", "name": b"bytes"}]
    with pytest.raises(InputError) as e:
        normalize_pairs(rows)
    assert e.value.field == "prompt" and "message 0" in str(e.value) and "'name'" in str(e.value)
    rows[0]["prompt"] = [{"role": "user", "content": "Hi", "name": "bob\x00"}]
    with pytest.raises(InputError, match="message 0"):
        normalize_pairs(rows)


def test_extra_column_text_is_checked_too():
    from prefjudge.judging.pairs import normalize_pairs

    rows = _rows()
    rows[1]["source"] = "web" + SURROGATE
    with pytest.raises(InputError) as e:
        normalize_pairs(rows)
    assert (e.value.row, e.value.field) == (1, "source")


@pytest.mark.parametrize("field,value", [("response", "ok" + SURROGATE), ("response", "ok" + NUL), ("model", "m" + NUL),
                                         ("system", "s" + SURROGATE), ("prompt", "p" + NUL), ("prompt_id", "x" + NUL)])
def test_rank_responses_candidates_are_checked(field, value):
    from prefjudge.curate.candidates import normalize_candidates

    rows = [{"prompt": "Q?", "response": f"answer {k}", "model": "m", "system": "s", "prompt_id": "q"} for k in range(3)]
    rows[1][field] = value
    with pytest.raises(InputError) as e:
        normalize_candidates(rows)
    assert e.value.row == 1 and e.value.field == field


def test_rank_responses_list_layout_and_chat_prompt_are_checked():
    from prefjudge.curate.candidates import normalize_candidates

    with pytest.raises(InputError) as e:
        normalize_candidates([{"prompt": "Q?", "responses": ["one", "two" + NUL]}])
    assert e.value.field == "responses[1]"
    with pytest.raises(InputError) as e:
        normalize_candidates([{"prompt": [{"role": "user", "content": "Q" + SURROGATE}], "responses": ["one", "two"]}])
    assert e.value.field == "prompt[0].content"
    with pytest.raises(InputError) as e:
        normalize_candidates([{"prompt": "Q", "responses": ["one", "two"], "models": ["m", "n" + NUL]}])
    assert e.value.field == "models[1]"


@pytest.mark.parametrize("row,field", [({"prompt": "Q" + NUL}, "prompt"), ({"prompt": "Q", "system": SURROGATE}, "system"),
                                       ({"prompt": "Q", "prompt_id": "a" + NUL}, "prompt_id")])
def test_generate_prompts_are_checked(row, field):
    from prefjudge.curate.generate import normalize_prompts

    with pytest.raises(InputError) as e:
        normalize_prompts([{"prompt": "fine"}, row])
    assert (e.value.row, e.value.field) == (1, field)


def test_generate_default_system_is_checked():
    from prefjudge.curate.generate import normalize_prompts

    with pytest.raises(InputError) as e:
        normalize_prompts(["Q?"], system="be " + NUL)
    assert e.value.field == "system"


@pytest.mark.parametrize("col,bad", [("response_a", SURROGATE), ("judge", NUL), ("pair_id", NUL), ("model_b", SURROGATE),
                                     ("prompt", NUL)])
def test_judgments_table_text_is_checked(col, bad):
    rows = [{"pair_id": f"p{i}", "judge": "j", "winner": "a", "response_a": "x", "response_b": "y", "model_b": "m",
             "prompt": "q"} for i in range(3)]
    rows[2][col] = "v" + bad
    for run in (pj.audit, pj.aggregate, normalize_judgments):
        with pytest.raises(InputError) as e:
            run(rows)
        assert (e.value.row, e.value.field) == (2, col)


def test_judgments_raw_may_hold_nul_but_not_surrogates():
    rows = [{"pair_id": "p", "judge": "j", "winner": "a", "raw": "model said \x00 [[A]]"}]
    assert normalize_judgments(rows)["raw"][0] == "model said \x00 [[A]]"
    rows[0]["raw"] = SURROGATE
    with pytest.raises(InputError) as e:
        normalize_judgments(rows)
    assert e.value.field == "raw"


# ---- 2. odd column labels ------------------------------------------------------------------------

@pytest.mark.timeout(60)
def test_integer_column_label_becomes_a_string(server):
    df = pd.DataFrame([[f"Q{i}?", f"A{i}", f"B{i}", i] for i in range(2)])
    df.columns = ["prompt", "response_a", "response_b", 0]
    result = pj.rank_pairs(df, _judge(server), progress=False)
    out = result.to_pandas()
    assert "0" in out.columns and out["0"].tolist() == [0, 1]
    result.to_dataset()  # string column names all the way


def test_label_that_collides_after_str_is_refused():
    from prefjudge.judging.pairs import normalize_pairs

    df = pd.DataFrame([["Q?", "A", "B", 1, 2]], columns=["prompt", "response_a", "response_b", 0, "0"])
    with pytest.raises(InputError) as e:
        normalize_pairs(df)
    assert e.value.field == "0"


def test_duplicate_column_names_are_refused():
    from prefjudge.judging.pairs import normalize_pairs

    df = pd.DataFrame([["Q?", "A", "B", "C"]], columns=["prompt", "response_a", "response_b", "response_a"])
    with pytest.raises(InputError) as e:
        normalize_pairs(df)
    assert e.value.field == "response_a" and "twice" in str(e.value)
    bad = pd.DataFrame([["p", "j", "a", "b"]], columns=["pair_id", "judge", "winner", "winner"])
    with pytest.raises(InputError) as e:
        normalize_judgments(bad)
    assert e.value.field == "winner"


# ---- human labels ---------------------------------------------------------------------------------

def test_human_labels_from_a_float_column():
    from prefjudge.judging.pairs import normalize_pairs

    df = pd.DataFrame(_rows(3))
    df["human"] = [1, 2, None]  # pandas makes these floats 1.0, 2.0, NaN
    assert [p.human for p in normalize_pairs(df)] == ["a", "b", None]
    df["human"] = [1.5, 1.0, 2.0]
    assert [p.human for p in normalize_pairs(df)] == ["tie", "a", "b"]


@pytest.mark.parametrize("value", [True, False, 3, "A!"])
def test_bad_human_labels_are_refused(value):
    from prefjudge.judging.pairs import normalize_pairs

    rows = _rows(2)
    rows[1]["human"] = value
    with pytest.raises(InputError) as e:
        normalize_pairs(rows)
    assert (e.value.row, e.value.field) == (1, "human")


def test_pd_na_counts_as_missing():
    from prefjudge.judging.pairs import normalize_pairs

    rows = _rows(1)
    rows[0]["system"] = pd.NA
    rows[0]["human"] = pd.NA
    p = normalize_pairs(rows)[0]
    assert p.system is None and p.human is None
    rows[0]["response_a"] = pd.NA
    with pytest.raises(InputError, match="empty|missing") as e:
        normalize_pairs(rows)
    assert e.value.field == "response_a"


# ---- 3. null pair_id / judge in judgments tables --------------------------------------------------

@pytest.mark.parametrize("col", ["pair_id", "judge"])
@pytest.mark.parametrize("missing", [None, float("nan"), pd.NA, "  "], ids=["None", "nan", "NA", "blank"])
def test_null_pair_id_or_judge_is_refused(col, missing):
    rows = [{"pair_id": f"p{i}", "judge": "j", "winner": "a"} for i in range(3)]
    rows[1][col] = missing
    for run in (pj.audit, pj.aggregate, normalize_judgments):
        with pytest.raises(InputError) as e:
            run(rows)
        assert (e.value.row, e.value.field) == (1, col)
    df = pd.DataFrame(rows)
    with pytest.raises(InputError) as e:
        pj.audit(df)
    assert (e.value.row, e.value.field) == (1, col)


# ---- 4. failures are None, never NaN ----------------------------------------------------------------

def _reply(body):
    return "I cannot decide." if "FAIL" in json.dumps(body) else "[[A]]"


@pytest.mark.timeout(120)
def test_failures_are_none_everywhere(tmp_path):
    rows = _rows(4)
    rows[1]["prompt"] = "Question FAIL?"
    rows[3]["prompt"] = "Question FAIL too?"
    with ScriptedServer(_reply) as server:
        result = pj.rank_pairs(rows, _judge(server), order="fixed", store=str(tmp_path / "s.sqlite"), progress=False)
    j = result.judgments.set_index("pair_id")
    for pid in ("p1", "p3"):
        assert j.loc[pid, "winner"] is None and isinstance(j.loc[pid, "error"], str)
        assert j.loc[pid, "p_a"] is None
    assert j.loc["p0", "winner"] == "a" and j.loc["p0", "error"] is None
    for col in ("winner", "error", "order", "raw", "p_a", "human"):
        assert result.judgments[col].dtype == object, col
    df = result.to_pandas().set_index("id")
    for col in ("winner", "chosen", "rejected", "p_a", "consistent", "reason", "model_a", "system"):
        assert df[col].dtype == object, col
    for pid in ("p1", "p3"):
        assert df.loc[pid, "winner"] is None and df.loc[pid, "chosen"] is None and df.loc[pid, "rejected"] is None
        assert df.loc[pid, "p_a"] is None
    assert df.loc["p0", "chosen"] == "Answer A0." and df.loc["p0", "reason"] is None
    ds = result.to_dataset()
    by_id = {r["id"]: r for r in ds}
    assert by_id["p1"]["winner"] is None and by_id["p1"]["chosen"] is None and by_id["p0"]["winner"] == "a"
    for suffix in ("jsonl", "parquet"):
        path = write_judgments(result.judgments, tmp_path / f"j.{suffix}")
        back = read_judgments_file(path).set_index("pair_id")
        assert back.loc["p1", "winner"] is None and back.loc["p1", "p_a"] is None, suffix
        assert back.loc["p0", "error"] is None and back.loc["p0", "winner"] == "a", suffix
        assert isinstance(back.loc["p1", "error"], str)
        again = normalize_judgments(path).set_index("pair_id")
        assert again.loc["p3", "winner"] is None and again.loc["p3", "order"] == "ab"
        agg = pj.aggregate(path).to_pandas().set_index("id")
        assert agg.loc["p1", "winner"] is None and agg.loc["p1", "chosen"] is None


def test_normalized_judgments_hold_none_not_nan():
    df = pd.DataFrame({"pair_id": ["p", "q"], "judge": ["j", "j"], "winner": ["a", None], "error": [None, "unparsed"],
                       "raw": ["[[A]]", None], "p_a": [1.0, None]})
    out = normalize_judgments(df)
    for col in ("winner", "error", "raw", "p_a", "human", "order", "prompt"):
        assert out[col].dtype == object and not any(isinstance(v, float) and math.isnan(v) for v in out[col]), col
    assert out["winner"][1] is None and out["raw"][1] is None and out["p_a"][1] is None and out["p_a"][0] == 1.0


# ---- 5. export paths ------------------------------------------------------------------------------

def _prefs():
    from _curate_helpers import make_result, three_judges

    import prefjudge.curate as pc

    specs = [{"id": f"p{i}", "prompt": f"Question {i}?", "a": f"Answer A{i}.", "b": f"Answer B{i}.",
              "verdicts": three_judges("a")} for i in range(3)]
    return pc.to_preferences(make_result(specs))


BAD_NAMES = ["../../escape", "..", ".", "a/b", "a\\b", "/abs", "", "x\x00y", "bad" + SURROGATE, "C:evil", " train"]


@pytest.mark.parametrize("split", BAD_NAMES)
def test_export_refuses_split_names_that_are_not_plain(tmp_path, split):
    import prefjudge.curate as pc

    out = tmp_path / "deep" / "out"
    with pytest.raises(InputError) as e:
        pc.export(_prefs(), out, split=split)
    assert e.value.field == "split"
    assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == []


def test_export_accepts_ordinary_split_names(tmp_path):
    import prefjudge.curate as pc

    out = pc.export(_prefs(), tmp_path / "o", split="validation.v2", format="jsonl")
    files = [p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()]
    assert any(f.startswith("data/validation.v2-00000-of-00001-") for f in files)


@pytest.mark.parametrize("kwargs,field", [({"format": "../x"}, "format"), ({"format": None}, "format"),
                                          ({"pretty_name": "Title\n## injected"}, "pretty_name"),
                                          ({"pretty_name": "x\x00"}, "pretty_name"), ({"pretty_name": 3}, "pretty_name"),
                                          ({"license": "mit\nmalicious: yes"}, "license"), ({"license": ""}, "license")])
def test_export_checks_format_and_card_strings(tmp_path, kwargs, field):
    import prefjudge.curate as pc

    with pytest.raises(InputError) as e:
        pc.export(_prefs(), tmp_path / "o", **kwargs)
    assert e.value.field == field
    assert not (tmp_path / "o").exists()


def test_push_to_hub_refuses_a_bad_split_before_writing_or_calling(tmp_path):
    from prefjudge.curate.hub import push_to_hub

    with pytest.raises(InputError) as e:
        push_to_hub(_prefs(), "user/name", split="../../x", endpoint="http://127.0.0.1:9")
    assert e.value.field == "split"


# ---- files ----------------------------------------------------------------------------------------

def test_jsonl_with_a_bom_reads(tmp_path):
    p = tmp_path / "j.jsonl"
    p.write_text('{"pair_id": "p", "judge": "j", "winner": "a"}\n{"pair_id": "q", "judge": "j", "winner": null}\n',
                 encoding="utf-8-sig")
    t = read_table(p)
    assert list(t.columns) == ["pair_id", "judge", "winner"] and t["winner"].tolist() == ["a", None]
    assert len(pj.audit(p).to_dict()["judges"]) == 1


def test_jsonl_with_a_truncated_last_line_names_it(tmp_path):
    p = tmp_path / "j.jsonl"
    p.write_text('{"pair_id": "p", "judge": "j", "winner": "a"}\n\n{"pair_id": "q", "ju', encoding="utf-8")
    with pytest.raises(InputError) as e:
        read_table(p)
    assert "line 3" in str(e.value) and "truncated" in str(e.value)


def test_jsonl_line_that_is_not_an_object(tmp_path):
    p = tmp_path / "j.jsonl"
    p.write_text('{"pair_id": "p", "judge": "j", "winner": "a"}\n[1, 2]\n', encoding="utf-8")
    with pytest.raises(InputError, match="line 2"):
        read_table(p)


def test_jsonl_blank_lines_and_crlf_are_fine(tmp_path):
    p = tmp_path / "j.jsonl"
    p.write_bytes(b'{"pair_id": "p", "judge": "j", "winner": "a"}\r\n\r\n{"pair_id": "q", "judge": "j", "winner": "b"}\r\n\n')
    assert read_table(p)["winner"].tolist() == ["a", "b"]


def test_csv_reads_none_for_empty_cells(tmp_path):
    p = tmp_path / "j.csv"
    p.write_text("pair_id,judge,winner\np,j,a\nq,j,\n", encoding="utf-8")
    t = read_table(p)
    assert t["winner"].tolist() == ["a", None] and t["winner"].dtype == object


def test_winner_column_of_ints_is_refused_with_the_row():
    with pytest.raises(InputError) as e:
        normalize_judgments(pd.DataFrame({"pair_id": ["p", "q"], "judge": ["j", "j"], "winner": [1, 2]}))
    assert (e.value.row, e.value.field) == (0, "winner")


def test_curate_tables_get_string_labels_and_refuse_duplicates():
    from prefjudge.formatting.rows import to_frame

    df = pd.DataFrame([["Q?", "good", "bad", 7]], columns=["prompt", "chosen", "rejected", 0])
    assert list(to_frame(df).columns) == ["prompt", "chosen", "rejected", "0"]
    dup = pd.DataFrame([["Q?", "good", "bad", "worse"]], columns=["prompt", "chosen", "rejected", "rejected"])
    with pytest.raises(InputError) as e:
        to_frame(dup)
    assert e.value.field == "rejected"


@pytest.mark.timeout(60)
def test_an_identical_column_in_the_input_does_not_override_the_computed_flag(server):
    df = pd.DataFrame(_rows(3))
    df["identical"] = float("nan")  # e.g. a table read back from a file, fed in again
    out = pj.rank_pairs(df, _judge(server), progress=False).to_pandas().set_index("id")
    assert out["winner"].notna().all()
    assert not out["reason"].fillna("").str.startswith("identical").any()


@pytest.mark.parametrize("missing", [None, float("nan")])
def test_preference_dataset_with_a_null_id_is_refused(missing):
    rows = [{"id": f"r{i}", "prompt": f"Q{i}?", "chosen": "good answer here", "rejected": "bad"} for i in range(3)]
    rows[2]["id"] = missing
    with pytest.raises(InputError) as e:
        pj.audit(rows)
    assert (e.value.row, e.value.field) == (2, "id")
