"""prefjudge: trustworthy LLM-judged preference data for DPO.

``import prefjudge`` is cheap: heavy modules (torch, transformers, trl, peft, litellm, datasets,
matplotlib) load only when a function that needs them runs. Public names load on first access;
type checkers read them from the ``TYPE_CHECKING`` imports below.

``__all__`` holds the verbs and types. Helpers live in their modules (``prefjudge.curate``,
``prefjudge.train``...); the ones that used to be exported here still resolve, with a
DeprecationWarning naming their home (``_DEPRECATED``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from prefjudge._lazy import lazy_exports

# The audit package first: importing it binds ``prefjudge.audit`` to the package once, here, and this
# line rebinds it to the function; a later ``import prefjudge.audit`` finds the package in
# sys.modules and leaves ``prefjudge.audit`` alone. (Cheap: numpy/pandas load when audit() runs.)
from prefjudge.audit import AuditReport, audit, from_alpaca_eval, from_preference_dataset

__version__ = "0.1.0"

_EXPORTS: dict[str, str] = {
    # judging
    "Judge": "prefjudge.judging.judge",
    "Generator": "prefjudge.curate.generator",
    "Endpoint": "prefjudge.backends.endpoint",
    "rank_pairs": "prefjudge.judging.rank_pairs",
    "arank_pairs": "prefjudge.judging.rank_pairs",
    "iter_judgments": "prefjudge.judging.rank_pairs",
    "aiter_judgments": "prefjudge.judging.rank_pairs",
    "RankResult": "prefjudge.result",
    "Store": "prefjudge.judging.store",
    # juries (the audit is imported above)
    "Jury": "prefjudge.aggregation.jury",
    "aggregate": "prefjudge.aggregation.jury",
    # counterfactual bias probes (they call judges; the audit beside them does not)
    "probe": "prefjudge.probing.run",
    "ProbeReport": "prefjudge.probing.report",
    # building datasets
    "generate": "prefjudge.curate",
    "agenerate": "prefjudge.curate",
    "rank_responses": "prefjudge.curate",
    "arank_responses": "prefjudge.curate",
    "to_preferences": "prefjudge.curate",
    "load_preferences": "prefjudge.curate",
    "to_pairs": "prefjudge.curate",
    "export": "prefjudge.curate",
    "push_to_hub": "prefjudge.curate",
    "PreferenceSet": "prefjudge.curate",
    "ResponseRanking": "prefjudge.curate",
    "CurationReport": "prefjudge.curate",
    "Filter": "prefjudge.curate",
    "predicate": "prefjudge.curate",
    # single-answer ratings and reward models (docs/curation.md, "Ratings and reward models")
    "rate": "prefjudge.curate.rating",
    "arate": "prefjudge.curate.rating",
    "RatingResult": "prefjudge.curate.rating_result",
    "RewardModel": "prefjudge.backends.reward",
    # training recipes
    "train_dpo": "prefjudge.train",
    "train_sft": "prefjudge.train",
    "merge": "prefjudge.train",
    "evaluate": "prefjudge.recipes.evaluation",
    "estimate_memory": "prefjudge.train",
    "run_recipe": "prefjudge.recipes.runner",
    "load_recipe": "prefjudge.recipes.loading",
    "TrainConfig": "prefjudge.train",
    "MemoryEstimate": "prefjudge.train",
    "MergeResult": "prefjudge.train",
    "EvalResult": "prefjudge.recipes.evaluation",
    "TrainOutput": "prefjudge.train",
    # data model
    "Pair": "prefjudge.types",
    "Judgment": "prefjudge.types",
    "Verdict": "prefjudge.types",
    "Completion": "prefjudge.types",
    "infer_family": "prefjudge.families",
    "read_judgments": "prefjudge.judgments",
    "write_judgments": "prefjudge.judgments",
    # errors
    "PrefjudgeError": "prefjudge.errors",
    "InputError": "prefjudge.errors",
    "ConfigError": "prefjudge.errors",
    # human review in Label Studio: the module itself (pj.review.export, pj.review.collect; docs/review.md)
    "review": "prefjudge.integrations.review",
}
_ALIASES = {"read_judgments": "normalize_judgments", "review": "_this_module"}

#: Names that moved out of ``__all__``: name -> new home. They resolve with a DeprecationWarning.
#: (``prefjudge.aggregation.jury`` is also a module: once it is imported, the attribute is that module.)
_DEPRECATED: dict[str, str] = {
    **{n: f"prefjudge.curate.{n}" for n in (
        "seed_filters", "llm_twin_filters", "min_chosen_chars", "chosen_starts_upper", "chosen_ends_with",
        "max_prompt_chars", "build_card", "share_longer", "balance_lengths", "find_duplicates")},
    "train_config_from_dict": "prefjudge.train.config_from_dict",
    "load_train_config": "prefjudge.train.load_config",
    "majority": "prefjudge.aggregation.jury.majority",
    "parse_verdict": "prefjudge.judging.parsing.parse_verdict",
}

__all__ = sorted([*_EXPORTS, "AuditReport", "audit", "from_alpaca_eval", "from_preference_dataset"])

if TYPE_CHECKING:  # pragma: no cover
    from prefjudge.aggregation.jury import Jury, aggregate
    from prefjudge.backends.endpoint import Endpoint
    from prefjudge.backends.reward import RewardModel
    from prefjudge.curate.export import export
    from prefjudge.curate.filters import Filter, predicate
    from prefjudge.curate.generate import agenerate, generate
    from prefjudge.curate.generator import Generator
    from prefjudge.curate.hub import push_to_hub
    from prefjudge.curate.loaders import load_preferences
    from prefjudge.curate.preferences import PreferenceSet, to_preferences
    from prefjudge.curate.ranking import ResponseRanking, arank_responses, rank_responses
    from prefjudge.curate.rating import arate, rate
    from prefjudge.curate.rating_result import RatingResult
    from prefjudge.curate.rejudge import to_pairs
    from prefjudge.curate.report import CurationReport
    from prefjudge.errors import ConfigError, InputError, PrefjudgeError
    from prefjudge.families import infer_family
    from prefjudge.integrations import review
    from prefjudge.judging.judge import Judge
    from prefjudge.judging.rank_pairs import aiter_judgments, arank_pairs, iter_judgments, rank_pairs
    from prefjudge.judging.store import Store
    from prefjudge.judgments import normalize_judgments as read_judgments
    from prefjudge.judgments import write_judgments
    from prefjudge.probing.report import ProbeReport
    from prefjudge.probing.run import probe
    from prefjudge.recipes.evaluation import EvalResult, evaluate
    from prefjudge.recipes.loading import load_recipe
    from prefjudge.recipes.runner import run_recipe
    from prefjudge.result import RankResult
    from prefjudge.train.common import TrainOutput
    from prefjudge.train.config import TrainConfig
    from prefjudge.train.dpo import train_dpo
    from prefjudge.train.memory import MemoryEstimate, estimate_memory
    from prefjudge.train.merging import MergeResult, merge
    from prefjudge.train.sft import train_sft
    from prefjudge.types import Completion, Judgment, Pair, Verdict


__getattr__, __dir__ = lazy_exports(__name__, globals(), _EXPORTS, _ALIASES, _DEPRECATED)
