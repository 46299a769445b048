"""Export (parquet, JSONL, save_to_disk) read back by load_dataset; the dataset card; push_to_hub to a fake Hub."""

from __future__ import annotations

import io
import json

import pytest
from _curate_helpers import make_result, three_judges
from _fake_hub import FakeHub

import prefjudge.curate as pc
from prefjudge.curate.card import build_card
from prefjudge.curate.hub import hub_operations, push_to_hub
from prefjudge.errors import InputError


class _Audit:
    """Stands in for prefjudge.audit's AuditReport: the card only needs to_markdown() and to_dict()."""

    def to_markdown(self):
        return "| judge | n | p_first |\n|---|---:|---:|\n| j1 | 4 | 0.50 |"

    def to_dict(self):
        return {"judges": {"j1": {"n": 4}}, "warnings": []}


def _prefs(fmt="standard"):
    specs = [{"id": f"p{i}", "prompt": f"Question {i}?", "a": f"Answer A{i}.", "b": f"Answer B{i}.", "model_a": "gpt-4o",
              "model_b": "llama-3", "system": "Be kind." if i == 0 else None,
              "verdicts": three_judges("a" if i % 2 else "b")} for i in range(4)]
    specs.append({"id": "tie", "prompt": "Q?", "a": "x", "b": "y", "verdicts": [("j1", "ab", "tie")]})
    return pc.to_preferences(make_result(specs), format=fmt, filters=[pc.min_chosen_chars(3)])


def _strip(rows):
    return [{k: r[k] for k in ("id", "prompt", "chosen", "rejected", "margin", "judges", "model_chosen")} for r in rows]


@pytest.mark.parametrize("fmt", ["standard", "conversational"])
@pytest.mark.parametrize("kind", ["parquet", "jsonl", "disk"])
def test_export_reads_back_with_load_dataset(tmp_path, kind, fmt):
    import datasets

    prefs = _prefs(fmt)
    out = pc.export(prefs, tmp_path / "out", format=kind, audit=_Audit(), config={"seed": 0, "judges": ["j1"]})
    back = datasets.load_dataset(str(out), split="train")
    assert _strip(back) == _strip(prefs.dataset)
    assert (out / "README.md").exists() and (out / "prefjudge_config.yaml").exists() and (out / "audit.json").exists()
    report = json.loads((out / "curation_report.json").read_text())
    assert report["report"]["n_input"] == 5 and report["report"]["n_output"] == 4
    if kind == "disk":
        assert len(datasets.load_from_disk(str(out / "data" / "train"))) == 4


def test_export_refuses_to_mix_with_an_earlier_export(tmp_path):
    pc.export(_prefs(), tmp_path, format="parquet")
    with pytest.raises(InputError, match="overwrite=True"):
        pc.export(_prefs(), tmp_path, format="jsonl")
    pc.export(_prefs(), tmp_path, format="jsonl", overwrite=True)
    names = [p.name for p in (tmp_path / "data").iterdir()]
    assert len(names) == 1 and names[0].startswith("train-00000-of-00001-") and names[0].endswith(".jsonl")


def test_card_metadata_and_sections_render_as_markdown(tmp_path):
    from huggingface_hub import DatasetCard
    from markdown_it import MarkdownIt

    prefs = _prefs()
    out = pc.export(prefs, tmp_path / "o", audit=_Audit(), config={"seed": 0}, license="apache-2.0")
    card = DatasetCard.load(out / "README.md")
    meta = card.data.to_dict()
    assert meta["license"] == "apache-2.0" and meta["task_categories"] == ["text-generation"]
    assert meta["size_categories"] == ["n<1K"]
    data_file = next((out / "data").iterdir()).name
    assert meta["configs"] == [{"config_name": "default", "data_files": [{"split": "train", "path": f"data/{data_file}"}]}]
    html = MarkdownIt("commonmark").enable("table").render(card.text)
    for heading in ("How the data was built", "Audit summary", "Filters and rows removed", "Columns"):
        assert f"<h2>{heading}</h2>" in html
    assert html.count("<table>") == 3  # audit summary, curation steps, columns
    assert "<td>ties</td>" in html and "<td>j1</td>" in html
    assert "template sha256 <code>abc123</code>" not in html  # meta judges were plain names here
    assert "<code>gpt-4o</code>" in html and "<code>llama-3</code>" in html  # generators
    assert "Order mode: <code>both</code>" in html and "Seed: <code>0</code>" in html


def test_card_lists_judges_with_template_hashes():
    prefs = pc.to_preferences(make_result(
        [{"id": "p", "prompt": "Q", "a": "A.", "b": "B.", "verdicts": three_judges("a")}],
        meta={"judges": [{"name": "j1", "model": "gpt-4o-mini", "backend": "openai", "family": "openai",
                          "template": "pairwise", "template_sha256": "0123abcd"}], "order": "random", "seed": 7}))
    text = str(build_card(prefs))
    assert "`j1`, model `gpt-4o-mini`, backend `openai`" in text and "template sha256 `0123abcd`" in text
    assert "Audit summary\n\nNo audit was attached" in text


def test_hub_operations_are_exactly_the_export_files(tmp_path):
    pc.export(_prefs(), tmp_path, config={"a": 1})
    ops = hub_operations(tmp_path)
    data_file = "data/" + next((tmp_path / "data").iterdir()).name
    assert [op.path_in_repo for op in ops] == ["README.md", "curation_report.json", data_file, "prefjudge_config.yaml"]
    assert all(op.path_or_fileobj == str(tmp_path / op.path_in_repo) for op in ops)


@pytest.fixture
def hub(monkeypatch):
    import huggingface_hub.constants as c

    monkeypatch.setattr(c, "HF_HUB_OFFLINE", False)
    monkeypatch.setenv("HF_TOKEN", "hf_fake_token_for_loopback")
    with FakeHub() as h:
        yield h


def test_push_to_hub_uploads_data_card_and_config(hub):
    import pandas as pd

    prefs = _prefs("conversational")
    info = push_to_hub(prefs, "me/my-prefs", audit=_Audit(), config={"seed": 0}, endpoint=hub.url)
    repo = hub.repos["me/my-prefs"]
    assert repo["visibility"] == "private" and repo["type"] == "dataset"  # private by default
    data_file = next(p for p in repo["files"] if p.startswith("data/"))
    assert sorted(repo["files"]) == ["README.md", "audit.json", "curation_report.json", data_file, "prefjudge_config.yaml"]
    assert data_file.startswith("data/train-00000-of-00001-") and data_file.endswith(".parquet")
    df = pd.read_parquet(io.BytesIO(repo["files"][data_file]))
    assert list(df["id"]) == list(prefs.dataset["id"])
    assert b"## Audit summary" in repo["files"]["README.md"] and b"| j1 | 4 | 0.50 |" in repo["files"]["README.md"]
    assert repo["files"]["prefjudge_config.yaml"] == b"seed: 0\n"
    assert info.oid == hub.commits[-1]["oid"] and hub.commits[-1]["header"]["summary"] == "prefjudge: 4 preference pairs"
    # the token came from HF_TOKEN through huggingface_hub, on every call
    assert {auth for _, _, auth in hub.requests} == {"Bearer hf_fake_token_for_loopback"}


def test_push_again_replaces_stale_data_files(hub):
    push_to_hub(_prefs(), "me/p", endpoint=hub.url, private=False)
    assert hub.repos["me/p"]["visibility"] == "public"
    first = [p for p in hub.repos["me/p"]["files"] if p.startswith("data/")]
    push_to_hub(_prefs(), "me/p", endpoint=hub.url, split="test")  # repo exists: exist_ok, then replace data
    now = [p for p in hub.repos["me/p"]["files"] if p.startswith("data/")]
    assert len(now) == 1 and now[0].startswith("data/test-") and ("deletedFile", first[0]) in hub.commits[-1]["ops"]


def test_push_bad_repo_id():
    with pytest.raises(InputError, match="repo_id"):
        push_to_hub(_prefs(), "a/b/c")


@pytest.mark.parametrize("kind", ["parquet", "disk"])
def test_two_exports_to_folders_with_the_same_name_load_their_own_rows(tmp_path, kind):
    import datasets

    a = pc.export(_prefs(), tmp_path / "a" / "prefs", format=kind)
    b = pc.export(_prefs("conversational"), tmp_path / "b" / "prefs", format=kind)
    assert isinstance(datasets.load_dataset(str(a), split="train")[0]["prompt"], str)
    assert isinstance(datasets.load_dataset(str(b), split="train")[0]["prompt"], list)


def test_empty_set_is_not_exported(tmp_path):
    prefs = pc.to_preferences([{"prompt": "p", "chosen": "short", "rejected": "r"}], filters=[pc.min_chosen_chars(100)])
    assert len(prefs) == 0 and prefs.report.n_output == 0
    with pytest.raises(InputError, match="(?s)nothing to export.*min_chosen_chars"):
        pc.export(prefs, tmp_path / "o")
    assert not (tmp_path / "o").exists()
