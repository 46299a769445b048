"""prefjudge: trustworthy LLM-judged preference data for DPO.

``import prefjudge`` is cheap: heavy modules (torch, transformers, trl, peft, litellm, datasets,
matplotlib) load only when a function that needs them runs. Public names load on first access.
"""

from __future__ import annotations

from ._lazy import lazy_exports

__version__ = "0.1.0"

_EXPORTS: dict[str, str] = {
    # judging
    "Judge": "prefjudge.judge",
    "rank_pairs": "prefjudge.rank",
    "arank_pairs": "prefjudge.rank",
    "RankResult": "prefjudge.result",
    "Store": "prefjudge.store",
    "majority": "prefjudge.majority",
    # juries and the bias audit
    "Jury": "prefjudge.jury",
    "aggregate": "prefjudge.jury",
    "audit": "prefjudge.audit",  # the function; once imported, the package itself is callable too
    "AuditReport": "prefjudge.audit",
    "from_alpaca_eval": "prefjudge.audit",
    "from_preference_dataset": "prefjudge.audit",
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
    "balance_lengths": "prefjudge.curate",
    "find_duplicates": "prefjudge.curate",
    "PreferenceSet": "prefjudge.curate",
    "ResponseRanking": "prefjudge.curate",
    "CurationReport": "prefjudge.curate",
    "Filter": "prefjudge.curate",
    "predicate": "prefjudge.curate",
    "seed_filters": "prefjudge.curate",
    "llm_twin_filters": "prefjudge.curate",
    "min_chosen_chars": "prefjudge.curate",
    "chosen_starts_upper": "prefjudge.curate",
    "chosen_ends_with": "prefjudge.curate",
    "max_prompt_chars": "prefjudge.curate",
    "build_card": "prefjudge.curate",
    "share_longer": "prefjudge.curate",
    # training recipes
    "train_dpo": "prefjudge.train",
    "train_sft": "prefjudge.train",
    "merge": "prefjudge.train",
    "evaluate": "prefjudge.train",
    "estimate_memory": "prefjudge.train",
    "run_recipe": "prefjudge.train",
    "TrainConfig": "prefjudge.train",
    "train_config_from_dict": "prefjudge.train",
    "load_train_config": "prefjudge.train",
    "load_recipe": "prefjudge.train",
    "MemoryEstimate": "prefjudge.train",
    "MergeResult": "prefjudge.train",
    "EvalResult": "prefjudge.train",
    "TrainOutput": "prefjudge.train",
    # data model
    "Pair": "prefjudge.types",
    "Judgment": "prefjudge.types",
    "Verdict": "prefjudge.types",
    "Completion": "prefjudge.types",
    "infer_family": "prefjudge.families",
    "parse_verdict": "prefjudge.parsing",
    "read_judgments": "prefjudge.judgments",
    "write_judgments": "prefjudge.judgments",
    # errors
    "PrefjudgeError": "prefjudge.errors",
    "InputError": "prefjudge.errors",
    "ConfigError": "prefjudge.errors",
}
_ALIASES = {"read_judgments": "normalize_judgments", "load_train_config": "load_config",
            "train_config_from_dict": "config_from_dict"}

__all__ = sorted(_EXPORTS)


__getattr__, __dir__ = lazy_exports(__name__, globals(), _EXPORTS, _ALIASES)
