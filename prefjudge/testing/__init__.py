"""Testing helpers: a loopback server of simulated LLM judges and generators, demo data, and a
tiny local model builder.

``import prefjudge.testing`` is cheap: every name is imported on first use (aiohttp only with
the server, torch only with ``build_tiny_model``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from prefjudge._lazy import lazy_exports

_EXPORTS: dict[str, str] = {
    "SimServer": ".server",
    "SimServerConfig": ".config",
    "SimWorld": ".sim",
    "SimJudge": ".sim",
    "SimGenerator": ".sim",
    "FaultPlan": ".sim",
    "WorldEntry": ".sim",
    "default_sim_jury": ".sim",
    "default_sim_generators": ".sim",
    "LogRecord": ".app",
    "parse_judge_prompt": ".protocol",
    "request_key": ".protocol",
    "make_demo_candidates": ".demo",
    "make_demo_pairs": ".demo",
    "make_demo_prompts": ".demo",
    "register_pairs": ".demo",
    "build_tiny_model": "prefjudge.train.tiny_model",
    "simulated_jury": ".jury",
}

__all__ = sorted(_EXPORTS)

if TYPE_CHECKING:  # pragma: no cover
    from prefjudge.testing.app import LogRecord
    from prefjudge.testing.config import SimServerConfig
    from prefjudge.testing.demo import make_demo_candidates, make_demo_pairs, make_demo_prompts, register_pairs
    from prefjudge.testing.jury import simulated_jury
    from prefjudge.testing.protocol import parse_judge_prompt, request_key
    from prefjudge.testing.server import SimServer
    from prefjudge.testing.sim import (
        FaultPlan,
        SimGenerator,
        SimJudge,
        SimWorld,
        WorldEntry,
        default_sim_generators,
        default_sim_jury,
    )
    from prefjudge.train.tiny_model import build_tiny_model


__getattr__, __dir__ = lazy_exports(__name__, globals(), _EXPORTS)
