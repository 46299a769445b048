"""Model cards next to adapters and merged models, the TrainConfig ``push`` section (a mocked HfApi:
no network here), and the seed-004 settings prefjudge cannot apply as TRL has them."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from prefjudge.errors import ConfigError, InputError
from prefjudge.recipes.loading import BUILTIN_DIR
from prefjudge.recipes.runner import run_recipe
from prefjudge.recipes.schema import deep_merge
from prefjudge.train import card as C
from prefjudge.train.common import TrainOutput, publish
from prefjudge.train.config import SourceSettingWarning, config_from_dict

BASE = {"model": {"name_or_path": "teknium/OpenHermes-2.5-Mistral-7B"},
        "data": {"hub_id": "Intel/orca_dpo_pairs", "loader": "orca_dpo_pairs"}}


class FakeHfApi:
    """Records what would be sent to the Hub."""

    calls: list[tuple[str, dict]] = []

    def __init__(self, *args, **kwargs):
        pass

    def create_repo(self, repo_id, **kwargs):
        FakeHfApi.calls.append(("create_repo", {"repo_id": repo_id, **kwargs}))
        return f"https://huggingface.co/{repo_id}"

    def upload_folder(self, **kwargs):
        files = sorted(p.name for p in Path(kwargs["folder_path"]).iterdir())
        FakeHfApi.calls.append(("upload_folder", {**kwargs, "files": files,
                                                  "card": (Path(kwargs["folder_path"]) / "README.md").read_text()}))
        return SimpleNamespace(oid="abc123", commit_url="https://huggingface.co/x/commit/abc123")


@pytest.fixture
def hub(monkeypatch):
    import huggingface_hub

    FakeHfApi.calls = []
    monkeypatch.setattr(huggingface_hub, "HfApi", FakeHfApi)
    return FakeHfApi.calls


def cfg(**patch):
    return config_from_dict(deep_merge(BASE, patch))


def output_for(adapter: Path, **extra) -> TrainOutput:
    adapter.mkdir(parents=True, exist_ok=True)
    (adapter / "adapter_config.json").write_text("{}")
    (adapter / "training_args.bin").write_bytes(b"x")
    return TrainOutput(method="dpo", trainer="dpo", base_model="teknium/OpenHermes-2.5-Mistral-7B",
                       output_dir=str(adapter.parent), adapter_path=str(adapter),
                       history=[{"step": 10, "loss": 0.5, "rewards/margins": 0.7, "logps/chosen": -40.0}],
                       rows={"read": 10, "filtered": 0, "too_long": 0, "train": 10, "eval": 0},
                       runtime={"loss_types": ["sigmoid"]}, train_seconds=1.0, mean_step_seconds=0.1,
                       peak_memory_mb=1.0, peak_memory_kind="process_max_rss",
                       environment={"libraries": {"trl": "1.16.0"}, "prefjudge": {"version": "0.1.0", "commit": "f" * 40}},
                       data_fingerprint={"train_sha256": "a" * 64}, **extra)


@pytest.mark.parametrize("push,words", [
    ({"hub_model_id": "me/x"}, "nothing would be pushed"),
    ({"push_merged": True}, "push_merged needs hub_model_id"),
    ({"push_adapter": True}, "push_adapter needs"),
    ({"push_adapter": True, "push_merged": True, "hub_model_id": "me/x"}, "set adapter_model_id"),
])
def test_push_section_is_checked_not_ignored(push, words):
    with pytest.raises(ConfigError, match=f"field 'push': .*{words}"):
        cfg(push=push)
    ok = cfg(push={"push_adapter": True, "push_merged": True, "hub_model_id": "me/m", "adapter_model_id": "me/a"})
    assert ok.push.adapter_repo() == "me/a"


def test_adapter_card_then_push_of_the_folder(tmp_path, hub):
    config = cfg(push={"push_adapter": True, "hub_model_id": "me/nh-adapter"})
    out = output_for(tmp_path / "run" / "adapter")
    path = C.write_adapter_card(config, out, out.adapter_path)
    text = path.read_text()
    meta = yaml.safe_load(text.split("---")[1])
    assert meta["base_model"] == "teknium/OpenHermes-2.5-Mistral-7B" and meta["datasets"] == ["Intel/orca_dpo_pairs"]
    assert meta["library_name"] == "peft" and {"dpo", "trl", "prefjudge", "qlora"} <= set(meta["tags"])
    assert "## Training config" in text and "beta: 0.1" in text and "loss types sigmoid" in text
    assert "No evaluation recorded." in text and "a" * 64 in text
    record = json.loads((Path(out.adapter_path) / C.RECORD).read_text())
    assert record["config"]["dpo"]["beta"] == 0.1 and record["trainer"] == "dpo"

    published = publish(config, out)
    assert [c[0] for c in hub] == ["create_repo", "upload_folder"]
    assert hub[0][1]["repo_id"] == "me/nh-adapter" and hub[0][1]["private"] is True
    upload = hub[1][1]
    assert upload["folder_path"] == out.adapter_path and "README.md" in upload["files"]
    assert "training_args.bin" in upload["ignore_patterns"] and "'me/nh-adapter'" in upload["card"]
    assert published.pushed == [{"what": "adapter", "repo_id": "me/nh-adapter", "folder": out.adapter_path,
                                 "commit": "abc123"}]


def test_nothing_is_pushed_without_a_push_section(tmp_path, hub):
    out = output_for(tmp_path / "adapter")
    C.write_adapter_card(cfg(), out, out.adapter_path)
    assert publish(cfg(), out).pushed == [] and hub == []


def test_a_folder_without_a_card_is_not_pushed(tmp_path, hub):
    from prefjudge.train.hub import push_folder

    with pytest.raises(InputError, match="no README.md"):
        push_folder(tmp_path, "me/x")
    assert hub == []


def test_local_paths_stay_out_of_the_hub_metadata(tmp_path):
    config = config_from_dict({"model": {"name_or_path": str(tmp_path)}, "data": {"path": str(tmp_path / "d.jsonl")}})
    out = output_for(tmp_path / "adapter").model_copy(update={"base_model": str(tmp_path)})
    text = C.write_adapter_card(config, out, out.adapter_path).read_text()
    meta = yaml.safe_load(text.split("---")[1])
    assert "base_model" not in meta and "datasets" not in meta and f"base model: `{tmp_path}`" in text


def test_merged_card_lists_each_adapter_from_its_record(tmp_path):
    sft, dpo = output_for(tmp_path / "sft" / "adapter"), output_for(tmp_path / "dpo" / "adapter")
    C.write_adapter_card(cfg(), sft, sft.adapter_path)
    C.write_adapter_card(cfg(dpo={"beta": 0.3}), dpo, dpo.adapter_path)
    text = C.merged_card("TinyLlama/TinyLlama-1.1B", [sft.adapter_path, dpo.adapter_path, str(tmp_path / "other")],
                         "float16", {"max_abs_logit_diff": 0.01, "tolerance": 0.2}, tmp_path / "merged")
    meta = yaml.safe_load(text.split("---")[1])
    assert meta["base_model"] == "TinyLlama/TinyLlama-1.1B" and meta["library_name"] == "transformers"
    assert {"dpo", "trl", "prefjudge", "merged"} <= set(meta["tags"]) and "lora" not in meta["tags"]
    assert "## Adapter 1" in text and "## Adapter 3" in text and "No prefjudge training record" in text
    assert "adapter_1:" in text and "beta: 0.3" in text and "max |logit diff|" in text


def test_evaluation_goes_into_a_prefjudge_card_only(tmp_path):
    out = output_for(tmp_path / "adapter")
    path = C.write_adapter_card(cfg(), out, out.adapter_path)
    result = {"base": "base-model", "n_prompts": 12, "judges": ["j1"], "win_rate": {"value": 0.75, "ci": [0.5, 0.9], "n": 12},
              "lc_win_rate": {"value": None, "ci": None, "n": 12}, "mean_length": {"trained_chars": 80, "base_chars": 60},
              "simulated": {"judges": ["sim-a"], "generators": [], "source": "prefjudge.testing"}}
    assert C.add_evaluation(out.adapter_path, result) == path
    text = path.read_text()
    assert "| win rate | 0.75 | 0.500-0.900 | 12 |" in text and "No evaluation recorded." not in text
    assert text.index("SIMULATED") < text.index("## Training")  # said at the top, too
    C.add_evaluation(out.adapter_path, {**result, "win_rate": {"value": 0.5, "ci": [0.3, 0.7], "n": 12}})
    assert path.read_text().count("| win rate |") == 1  # replaced, not appended
    other = tmp_path / "foreign"
    other.mkdir()
    (other / "README.md").write_text("# someone else's card\n")
    assert C.add_evaluation(other, result) is None and (other / "README.md").read_text() == "# someone else's card\n"


def test_bos_token_id_is_applied_only_to_a_model_without_one():
    from prefjudge.train.runtime import apply_bos_token_id

    bare = SimpleNamespace(config=SimpleNamespace(bos_token_id=None), generation_config=SimpleNamespace(bos_token_id=None))
    assert "applied" in apply_bos_token_id(bare, 0)
    assert bare.config.bos_token_id == 0 and bare.generation_config.bos_token_id == 0
    own = SimpleNamespace(config=SimpleNamespace(bos_token_id=151643), generation_config=SimpleNamespace(bos_token_id=1))
    note = apply_bos_token_id(own, 0)
    assert "not applied" in note and "151643" in note and own.config.bos_token_id == 151643


def test_seed_004_settings_are_carried_or_warned_about():
    with pytest.warns(SourceSettingWarning, match=r"dpo.draw_threshold=0.25 .* not applied"):
        c = cfg(dpo={"draw_threshold": 0.25}, model={"bos_token_id": 0})
    assert c.model.bos_token_id == 0
    with warnings.catch_warnings():
        warnings.simplefilter("error", SourceSettingWarning)
        cfg()  # nothing to say without it
    text = (BUILTIN_DIR / "qwen25_stack_exchange.yaml").read_text()
    assert "bos_token_id: 0" in text and "draw_threshold: 0.25" in text
    with pytest.warns(SourceSettingWarning, match="draw_threshold"):
        plan = run_recipe(BUILTIN_DIR / "qwen25_stack_exchange.yaml", dry_run=True, echo=lambda _: None)
    assert plan["steps"][0]["kind"] == "dpo"


def test_ignored_settings_reach_the_run_notes():
    from prefjudge.train.config import ignored_settings

    with pytest.warns(SourceSettingWarning):
        c = cfg(dpo={"draw_threshold": 0.25})
    assert ignored_settings(c) and "TRL 1.16" in ignored_settings(c)[0] and ignored_settings(cfg()) == []


@pytest.mark.slow
def test_push_merged_merges_writes_the_card_and_uploads_the_folder(tmp_path, hub):
    """A real tiny base and LoRA adapter: merge into OUT/merged with its card, one upload, no reload."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from prefjudge.train.tiny_model import build_tiny_model

    base = str(build_tiny_model(tmp_path / "tiny"))
    torch.manual_seed(0)
    model = get_peft_model(AutoModelForCausalLM.from_pretrained(base),
                           LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM"))
    out = output_for(tmp_path / "run" / "adapter").model_copy(update={"base_model": base})
    model.save_pretrained(out.adapter_path)
    AutoTokenizer.from_pretrained(base).save_pretrained(out.adapter_path)
    config = config_from_dict({"model": {"name_or_path": base, "bos_token_id": 5}, "data": {"path": "d.jsonl"},
                               "device": "cpu", "push": {"push_merged": True, "hub_model_id": "me/merged",
                                                         "merged_dtype": "float32"}})
    C.write_adapter_card(config, out, out.adapter_path)
    published = publish(config, out)
    merged = Path(published.merged["path"])
    assert merged == tmp_path / "run" / "merged" and (merged / "model.safetensors").is_file()
    assert published.merged["max_abs_logit_diff"] < 1e-4
    assert [c[0] for c in hub] == ["create_repo", "upload_folder"] and hub[1][1]["folder_path"] == str(merged)
    card = hub[1][1]["card"]
    assert "library_name: transformers" in card and "## Adapter 1" in card and "'me/merged'" in card
    assert "bos_token_id: 5" in card  # the training config, in the card
    assert json.loads((merged / "config.json").read_text())["bos_token_id"] == 5  # carried (the tiny model has none)
    assert published.pushed[0]["what"] == "merged"
