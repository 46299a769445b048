"""PreferenceSet.push_to_hub / save_to_disk are prefjudge's (card, audit, private), not Dataset's; push_to_hub
offers Dataset.push_to_hub's options through HfApi.upload_folder(delete_patterns=...).

No network: huggingface_hub.HfApi's methods are replaced by recorders that keep every call's
arguments and a copy of the uploaded folder.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from _curate_helpers import make_result, three_judges

import prefjudge.curate as pc
from prefjudge.curate.hub import push_to_hub
from prefjudge.errors import InputError

REMOTE_README = """---
configs:
- config_name: default
  data_files:
  - split: train
    path: data/train-00000-of-00001-aaaa.parquet
---

# An earlier push
"""


class _Audit:
    def to_markdown(self):
        return "# Judge audit\n\n## Warnings\n\n- none\n"

    def to_dict(self):
        return {"simulated": None, "judges": {"j1": {"n": 4}}, "warnings": []}


class _Commit:
    oid = "0" * 40


@pytest.fixture
def hub(monkeypatch):
    """Record HfApi calls; ``hub["files"]`` is what upload_folder would have uploaded (path -> bytes)."""
    import huggingface_hub
    from huggingface_hub.errors import EntryNotFoundError

    calls: dict = {"files": {}, "remote_readme": None}

    def record(name):
        def method(self, *args, **kwargs):
            calls.setdefault(name, []).append({"args": args, "kwargs": kwargs, "token": self.token,
                                               "endpoint": self.endpoint})
            if name == "upload_folder":
                root = Path(kwargs["folder_path"])
                calls["files"] = {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}
                return _Commit()
            if name == "hf_hub_download":
                if calls["remote_readme"] is None:
                    raise EntryNotFoundError("README.md not in the repo")
                target = Path(kwargs["local_dir"]) / "README.md"
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(calls["remote_readme"])
                return str(target)
            return None
        return method

    for name in ("create_repo", "create_branch", "hf_hub_download", "upload_folder", "create_commit", "upload_file"):
        monkeypatch.setattr(huggingface_hub.HfApi, name, record(name))
    return calls


def _prefs(n: int = 4):
    specs = [{"id": f"p{i}", "prompt": f"Question {i}?", "a": f"Answer A{i}.", "b": f"Answer B{i}.",
              "verdicts": three_judges("a" if i % 2 else "b")} for i in range(n)]
    return pc.to_preferences(make_result(specs))


def _card(hub) -> str:
    return hub["files"]["README.md"].decode()


def test_the_datasets_idiom_pushes_prefjudges_export_privately(hub):
    """prefs.push_to_hub("me/x") used to fall through __getattr__ to Dataset.push_to_hub: public, no card, no audit."""
    prefs = _prefs()
    commit = prefs.push_to_hub("me/x", audit=_Audit())
    assert commit.oid == "0" * 40
    (create,) = hub["create_repo"]
    assert create["args"] == ("me/x",) and create["kwargs"]["private"] is True and create["kwargs"]["repo_type"] == "dataset"
    (upload,) = hub["upload_folder"]
    assert upload["kwargs"]["repo_id"] == "me/x" and upload["kwargs"]["repo_type"] == "dataset"
    assert upload["kwargs"]["delete_patterns"] == ["data/*"]  # the config's earlier data files go
    data = [p for p in hub["files"] if p.startswith("data/")]
    assert len(data) == 1 and data[0].startswith("data/train-00000-of-00001-") and data[0].endswith(".parquet")
    assert {"README.md", "audit.json", "curation_report.json"} <= set(hub["files"])
    card = _card(hub)
    assert "## Audit summary" in card and "### Judge audit" in card and "#### Warnings" in card
    import pandas as pd

    assert list(pd.read_parquet(io.BytesIO(hub["files"][data[0]]))["id"]) == list(prefs.dataset["id"])
    assert "create_commit" not in hub and "upload_file" not in hub  # one upload_folder commit


def test_options_pass_through_as_in_dataset_push_to_hub(hub):
    prefs = _prefs(6)
    push_to_hub(prefs, "org/prefs", private=False, token="hf_abc", commit_message="m", commit_description="d",
                revision="dev", num_shards=3, endpoint="http://127.0.0.1:9")
    create, branch, upload = hub["create_repo"][0], hub["create_branch"][0], hub["upload_folder"][0]
    assert create["kwargs"]["private"] is False and create["token"] == "hf_abc" and create["endpoint"] == "http://127.0.0.1:9"
    assert branch["kwargs"] == {"branch": "dev", "repo_type": "dataset", "exist_ok": True}
    kw = upload["kwargs"]
    assert (kw["revision"], kw["commit_message"], kw["commit_description"], kw["create_pr"]) == ("dev", "m", "d", False)
    assert hub["hf_hub_download"][0]["kwargs"]["revision"] == "dev"
    shards = sorted(p for p in hub["files"] if p.startswith("data/"))
    assert [p.split("-of-")[0] for p in shards] == ["data/train-00000", "data/train-00001", "data/train-00002"]
    from huggingface_hub import DatasetCard

    configs = DatasetCard(_card(hub)).data.to_dict()["configs"]
    assert configs == [{"config_name": "default", "data_files": [{"split": "train", "path": shards}]}]


def test_a_pull_request_goes_to_the_main_branch(hub):
    push_to_hub(_prefs(), "me/x", create_pr=True)
    assert hub["upload_folder"][0]["kwargs"]["create_pr"] is True and "create_branch" not in hub
    with pytest.raises(InputError, match="revision"):
        push_to_hub(_prefs(), "me/x", create_pr=True, revision="dev")


def test_max_shard_size_splits_the_data(hub):
    push_to_hub(_prefs(8), "me/x", max_shard_size=200)
    assert len([p for p in hub["files"] if p.startswith("data/")]) > 1
    with pytest.raises(InputError, match="not both"):
        push_to_hub(_prefs(), "me/x", max_shard_size="1MB", num_shards=2)
    with pytest.raises(InputError, match="max_shard_size"):
        push_to_hub(_prefs(), "me/x", max_shard_size="lots")


def test_a_second_config_keeps_the_first_in_the_card(hub):
    hub["remote_readme"] = REMOTE_README
    push_to_hub(_prefs(), "me/x", config_name="strict", audit=_Audit(), config={"seed": 1})
    upload = hub["upload_folder"][0]["kwargs"]
    assert upload["delete_patterns"] == ["strict/*"]  # the default config's data stays
    assert not any(p.startswith("data/") for p in hub["files"])
    assert {"strict/curation_report.json", "strict/audit.json", "strict/prefjudge_config.yaml"} <= set(hub["files"])
    from huggingface_hub import DatasetCard

    configs = DatasetCard(_card(hub)).data.to_dict()["configs"]
    assert [c["config_name"] for c in configs] == ["default", "strict"]
    assert configs[0]["data_files"][0]["path"] == "data/train-00000-of-00001-aaaa.parquet"
    assert configs[1]["data_files"][0]["path"].startswith("strict/train-00000-of-00001-")
    assert "[`strict/prefjudge_config.yaml`](strict/prefjudge_config.yaml)" in _card(hub)
    push_to_hub(_prefs(), "me/x", data_dir="custom/dir")
    assert hub["upload_folder"][1]["kwargs"]["delete_patterns"] == ["custom/dir/*"]


@pytest.mark.parametrize("kwargs, field", [({"config_name": "data"}, "config_name"), ({"config_name": "a/b"}, "config_name"),
                                           ({"data_dir": "../up"}, "data_dir"), ({"data_dir": "/abs"}, "data_dir"),
                                           ({"num_shards": 0}, "num_shards"), ({"num_shards": 99}, "num_shards")])
def test_bad_options_are_refused_before_any_call(hub, kwargs, field):
    with pytest.raises(InputError, match=field):
        push_to_hub(_prefs(), "me/x", **kwargs)
    assert "create_repo" not in hub and "upload_folder" not in hub


def test_push_to_hub_is_keyword_only_after_repo_id(hub):
    with pytest.raises(TypeError):
        push_to_hub(_prefs(), "me/x", False)  # type: ignore[misc]  # was `private` positionally
    assert "create_repo" not in hub


def test_save_to_disk_is_prefjudges_export(tmp_path):
    import datasets

    prefs = _prefs()
    out = prefs.save_to_disk(tmp_path / "saved", audit=_Audit())
    assert out == tmp_path / "saved"
    assert {"README.md", "curation_report.json", "audit.json", "data"} <= {p.name for p in out.iterdir()}
    assert len(datasets.load_from_disk(str(out / "data" / "train"))) == len(prefs)
    assert len(datasets.load_dataset(str(out), split="train")) == len(prefs)
    with pytest.raises(InputError, match="num_shards.*prefs.dataset.save_to_disk"):
        prefs.save_to_disk(tmp_path / "other", num_shards=2)
