"""Building preference datasets: selection, filters, dedup, decontamination, length balance, formats.

Heavy libraries (datasets, datasketch, huggingface_hub) are imported inside the functions that use them.
"""

from .balance import balance_lengths, share_longer
from .decontam import NgramIndex
from .dedup import find_duplicates
from .generate import GENERATION_COLUMNS, agenerate, generate
from .rank import STRATEGIES, ResponseRanking, arank_responses, rank_responses
from .export import export
from .hub import push_to_hub
from .card import build_card
from .loaders import HUB_IDS, SCHEMAS, detect_schema, load_preferences, seed_filters
from .rejudge import to_pairs
from .filters import (
    BUILTIN_FILTERS, Filter, chosen_ends_with, chosen_starts_upper, different_answers, llm_twin_filters,
    max_prompt_chars, min_chosen_chars, predicate,
)
from .preferences import KEPT_COLUMNS, PreferenceSet, to_preferences
from .report import CurationReport, StepReport

__all__ = [
    "BUILTIN_FILTERS", "CurationReport", "Filter", "KEPT_COLUMNS", "NgramIndex", "PreferenceSet", "StepReport",
    "balance_lengths", "chosen_ends_with", "chosen_starts_upper", "different_answers", "find_duplicates",
    "llm_twin_filters", "max_prompt_chars", "min_chosen_chars", "predicate", "share_longer", "to_preferences",
    "GENERATION_COLUMNS", "STRATEGIES", "ResponseRanking", "agenerate", "arank_responses", "generate", "rank_responses",
    "build_card", "export", "push_to_hub", "HUB_IDS", "SCHEMAS", "detect_schema", "load_preferences", "seed_filters", "to_pairs",
]
