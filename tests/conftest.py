"""Shared fixtures: a simulated judge server on 127.0.0.1 and demo pairs with latent truth."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture
def sim_world():
    from prefjudge.testing import SimWorld

    return SimWorld()


@pytest.fixture
def demo_pairs(sim_world):
    from prefjudge.testing import make_demo_pairs

    return make_demo_pairs(60, seed=3, world=sim_world)
