"""What a training run records about itself (TrainOutput, so run.json's ``train``): library versions,
prefjudge's version and commit, the hardware, a fingerprint of the training data, logps/* metrics."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import prefjudge
from prefjudge.train import provenance as P
from prefjudge.train.common import TrainOutput, split_history


def test_library_versions_name_the_training_stack():
    from importlib.metadata import version

    libs = P.library_versions()
    for name in ("torch", "transformers", "trl", "peft", "bitsandbytes", "accelerate", "datasets"):
        assert libs[name] == version(name)
    assert re.fullmatch(r"3\.\d+\.\d+", libs["python"])


def test_prefjudge_version_and_commit():
    info = P.prefjudge_source()
    assert info["version"] == prefjudge.__version__
    root = Path(prefjudge.__file__).resolve().parents[1]
    if (root / ".git").exists():  # a checkout: the commit it runs from
        head = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
        assert info["commit"] == head and isinstance(info["dirty"], bool)


def test_hardware_describes_the_machine():
    import os

    import torch  # noqa: F401  (hardware() reports torch's view when torch is loaded)

    hw = P.hardware()
    assert hw["cpu_count"] == os.cpu_count() and hw["memory_gb"] > 0 and isinstance(hw["gpus"], list)
    assert hw["torch_threads"] >= 1 and "platform" in hw
    assert set(P.environment()) == {"libraries", "prefjudge", "hardware"}


def test_fingerprint_follows_the_rows():
    rows = [{"prompt": "p", "chosen": "a", "rejected": "b"}, {"prompt": "q", "chosen": "c", "rejected": "d"}]
    fp = P.data_fingerprint(rows, rows[:1])
    assert fp["n_train"] == 2 and fp["n_eval"] == 1
    assert P.fingerprint(rows) == P.fingerprint([dict(reversed(list(r.items()))) for r in rows])  # key order
    assert P.fingerprint(rows) != P.fingerprint(rows[::-1])  # row order counts
    assert P.fingerprint(rows) != P.fingerprint([rows[0], {**rows[1], "chosen": "C"}])


def test_history_keeps_logps():
    log = [{"loss": 0.6, "step": 1, "epoch": 0.1, "rewards/margins": 0.2, "logps/chosen": -40.5,
            "logps/rejected": -41.0, "nll_loss": 2.0},
           {"eval_loss": 0.5, "eval_logps/chosen": -39.0, "step": 1}]
    train, evals = split_history(log)
    assert train[0]["logps/chosen"] == -40.5 and train[0]["logps/rejected"] == -41.0 and train[0]["nll_loss"] == 2.0
    assert evals[0]["eval_logps/chosen"] == -39.0


def test_train_output_carries_the_records():
    fields = TrainOutput.model_fields
    assert {"environment", "data_fingerprint", "trainer", "card_path", "pushed"} <= set(fields)
