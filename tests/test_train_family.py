"""The DPO family (DPO loss variants, ORPO, KTO, CPO/SimPO): checked against the installed TRL when the
config is validated (dry runs included), and a short smoke run of each on the tiny model."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from typer.testing import CliRunner

from prefjudge.errors import ConfigError
from prefjudge.recipes.loading import BUILTIN_DIR
from prefjudge.recipes.runner import run_recipe
from prefjudge.recipes.schema import deep_merge
from prefjudge.train import trl_support
from prefjudge.train.config import config_from_dict
from prefjudge.train.data import unpair_rows

BASE = {"model": {"name_or_path": "m"}, "data": {"path": "d.jsonl"}}


def cfg(**patch):
    return config_from_dict(deep_merge(BASE, patch))


def trl_source(rel: str) -> str:
    root = trl_support.trl_dir()
    assert root is not None, "trl is installed in the dev venv"
    return (root / rel).read_text()


def test_simpo_under_dpo_fails_at_validation_naming_field_and_accepted_values():
    with pytest.raises(ConfigError) as err:
        cfg(dpo={"loss_type": ["simpo"]})
    msg = str(err.value)
    assert "field 'dpo.loss_type'" in msg and "'simpo' is not a loss type of trainer 'dpo'" in msg
    assert "accepted: sigmoid, hinge, ipo" in msg and "set trainer: cpo" in msg
    assert cfg(trainer="cpo", dpo={"loss_type": ["simpo"], "cpo_alpha": 0.0}).trainer == "cpo"


def test_accepted_losses_are_read_from_the_installed_trl():
    dpo_src = trl_source("trainer/dpo_trainer.py")
    for loss in trl_support.loss_types("dpo"):
        assert f'loss_type == "{loss}"' in dpo_src
    assert {"sigmoid", "ipo", "hinge", "robust", "apo_zero", "sigmoid_norm"} <= set(trl_support.loss_types("dpo"))
    assert set(trl_support.loss_types("kto")) == {"kto", "apo_zero_unpaired"}
    assert "simpo" in trl_support.loss_types("cpo") and trl_support.loss_types("orpo") == ()
    for loss in ("ipo", "hinge", "robust", "apo_zero"):  # a few variants pass validation
        assert cfg(dpo={"loss_type": [loss]}).dpo.loss_type == [loss]


@pytest.mark.parametrize("patch,field,words", [
    ({"dpo": {"loss_type": ["sigmoid", "ipo"], "loss_weights": [1.0]}}, "dpo.loss_weights", "1 weights for 2"),
    ({"dpo": {"loss_type": ["exo_pair"]}}, "dpo.label_smoothing", "exo_pair"),
    ({"dpo": {"cpo_alpha": 0.0}}, "dpo.cpo_alpha", "trainer 'cpo' only"),
    ({"trainer": "orpo", "dpo": {"loss_type": ["ipo"]}}, "dpo.loss_type", "no loss types"),
    ({"trainer": "orpo", "dpo": {"reference": "separate"}}, "dpo.reference", "reference-free"),
    ({"trainer": "cpo", "dpo": {"loss_type": ["simpo", "ipo"]}}, "dpo.loss_type", "one loss type"),
    ({"trainer": "kto", "dpo": {"per_device_train_batch_size": 1}}, "dpo.per_device_train_batch_size", "KL"),
    ({"trainer": "kto", "dpo": {"loss_type": ["sigmoid"]}}, "dpo.loss_type", "accepted: kto, apo_zero_unpaired"),
    ({"trainer": "ppo"}, "trainer", "Input should be"),
])
def test_trainer_specific_settings_are_checked(patch, field, words):
    with pytest.raises(ConfigError, match=f"field '{field}'.*{words}"):
        cfg(**patch)


def test_defaults_follow_the_trainer():
    from prefjudge.train.dpo import loss_types, trainer_args

    kto = cfg(trainer="kto")
    assert loss_types(kto) == ["kto"] and trainer_args(kto)["loss_type"] == "kto"
    simpo = cfg(trainer="cpo", dpo={"loss_type": ["simpo"], "cpo_alpha": 0.0, "simpo_gamma": 0.5})
    assert trainer_args(simpo) == {"beta": 0.1, "loss_type": "simpo", "label_smoothing": 0.0, "cpo_alpha": 0.0,
                                   "simpo_gamma": 0.5}
    assert trainer_args(cfg(trainer="orpo")) == {"beta": 0.1}


def test_a_trainer_missing_from_trl_is_refused_with_the_reason(tmp_path, monkeypatch):
    fake = tmp_path / "trl"
    (fake / "trainer").mkdir(parents=True)
    for rel in ("trainer/dpo_trainer.py", "trainer/kto_config.py"):
        (fake / rel).write_text(trl_source(rel))
    monkeypatch.setattr(trl_support, "trl_dir", lambda: fake)
    trl_support.loss_types.cache_clear()
    try:
        with pytest.raises(ConfigError, match=r"field 'trainer': 'orpo' cannot run: .*ORPOTrainer .*missing"):
            cfg(trainer="orpo")
        assert cfg(trainer="kto").trainer == "kto"
    finally:
        trl_support.loss_types.cache_clear()


def test_dry_run_refuses_a_loss_the_trainer_lacks(tmp_path):
    text = (BUILTIN_DIR / "neuralhermes.yaml").read_text().replace("loss_type: [sigmoid]", "loss_type: [simpo]")
    assert "loss_type: [simpo]" in text
    recipe = tmp_path / "nh.yaml"
    recipe.write_text(text)
    (tmp_path / "data").symlink_to(BUILTIN_DIR / "data")
    with pytest.raises(ConfigError, match=r"step 'dpo'.*field 'dpo.loss_type': 'simpo'"):
        run_recipe(recipe, dry_run=True, echo=lambda _: None)


def test_unpaired_rows_keep_pairs_together(tmp_path):
    rows = [{"prompt": f"q{i}", "chosen": f"good {i}", "rejected": f"bad {i}"} for i in range(3)]
    out = unpair_rows(rows)
    assert [r["label"] for r in out] == [True, False] * 3
    assert [r["completion"] for r in out[:2]] == ["good 0", "bad 0"] and all(set(r) == {"prompt", "completion", "label"}
                                                                          for r in out)
    conv = unpair_rows([{"prompt": [{"role": "user", "content": "q"}], "chosen": [{"role": "assistant", "content": "a"}],
                         "rejected": [{"role": "assistant", "content": "b"}]}])
    assert conv[1]["completion"] == [{"role": "assistant", "content": "b"}]
    src = tmp_path / "pairs.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    from prefjudge.cli.train import app

    res = CliRunner().invoke(app, ["unpair", str(src), "--out", str(tmp_path / "kto.jsonl")])
    assert res.exit_code == 0, res.output
    written = [json.loads(line) for line in (tmp_path / "kto.jsonl").read_text().splitlines()]
    assert written == out and "6 unpaired rows (3 pairs)" in res.output
    src.write_text(json.dumps({"prompt": "q", "chosen": "a"}) + "\n")
    res = CliRunner().invoke(app, ["unpair", str(src), "--out", str(tmp_path / "x.jsonl")])
    assert res.exit_code == 2 and "rejected" in res.output


# ---- a short smoke run of each trainer on the tiny model (4-bit LoRA, CPU) ----

@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> str:
    from prefjudge.train.tiny_model import build_tiny_model

    return str(build_tiny_model(tmp_path_factory.mktemp("models") / "tiny"))


@pytest.fixture(scope="module")
def pref_file(tmp_path_factory) -> Path:
    rng = random.Random(0)
    path = tmp_path_factory.mktemp("data") / "pref.jsonl"
    topics = ["the weather", "simple math", "the code", "a recipe"]
    rows = [{"prompt": f"Tell me about {t}.", "chosen": f"The answer explains {t} carefully.",
             "rejected": f"No. {t} again!"} for t in (rng.choice(topics) for _ in range(24))]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.mark.slow
@pytest.mark.parametrize("trainer,dpo,trl_class", [
    ("dpo", {"loss_type": ["ipo"]}, "trl.DPOTrainer"),
    ("orpo", {}, "trl.experimental.orpo.ORPOTrainer"),
    ("kto", {}, "trl.KTOTrainer"),
    ("cpo", {"loss_type": ["simpo"], "cpo_alpha": 0.0}, "trl.experimental.cpo.CPOTrainer"),
])
def test_each_trainer_trains_on_the_tiny_model(tiny, pref_file, tmp_path, trainer, dpo, trl_class):
    from prefjudge.train.dpo import train_dpo

    config = config_from_dict({
        "model": {"name_or_path": tiny}, "data": {"path": str(pref_file), "chat_template": "chatml"},
        "lora": {"r": 4, "alpha": 8, "dropout": 0.0}, "trainer": trainer, "device": "cpu",
        "output_dir": str(tmp_path / trainer),
        "dpo": {"max_steps": 4, "learning_rate": 5e-3, "logging_steps": 2, "per_device_train_batch_size": 4,
                "max_length": 96, "gradient_checkpointing": False, **dpo},
    })
    out = train_dpo(config)
    assert out.trainer == trainer and out.runtime["trl_class"] == trl_class and out.runtime["global_steps"] == 4
    assert [e["step"] for e in out.history] == [2, 4] and all("loss" in e and "logps/chosen" in e for e in out.history)
    assert out.runtime["linear4bit_layers"] == 14
    if trainer == "kto":  # trained on the pairs unpaired, a pair's two rows side by side
        assert out.rows["unpaired_train"] == 2 * out.rows["train"] == 48
        assert out.runtime["loss_types"] == ["kto"]
    else:
        assert "logps/rejected" in out.history[-1] and "rewards/margins" in out.history[-1]
    if trainer in ("orpo", "cpo"):
        assert out.runtime["reference"] == "none (reference-free)"
    card = (Path(out.adapter_path) / "README.md").read_text()
    assert f"- {trainer}\n" in card and "- trl\n" in card and trl_class in card
