"""Building preference datasets: selection, filters, dedup, decontamination, length balance, formats.

Heavy libraries (datasets, datasketch, huggingface_hub) are imported inside the functions that use them.
"""

from prefjudge.curate.balance import balance_lengths, share_longer
from prefjudge.curate.card import build_card
from prefjudge.curate.decontam import NgramIndex
from prefjudge.curate.dedup import find_duplicates
from prefjudge.curate.export import export
from prefjudge.curate.filters import (
    BUILTIN_FILTERS,
    Filter,
    chosen_ends_with,
    chosen_starts_upper,
    complete_sentence_filters,
    different_answers,
    llm_twin_filters,
    max_prompt_chars,
    min_chosen_chars,
    predicate,
)
from prefjudge.curate.generate import GENERATION_COLUMNS, agenerate, generate
from prefjudge.curate.generator import Generator
from prefjudge.curate.hub import push_to_hub
from prefjudge.curate.loaders import HUB_IDS, SCHEMAS, detect_schema, distilabel_orca_filters, load_preferences, seed_filters
from prefjudge.curate.preferences import KEPT_COLUMNS, PreferenceSet, to_preferences
from prefjudge.curate.ranking import STRATEGIES, ResponseRanking, arank_responses, rank_responses
from prefjudge.curate.rejudge import to_pairs
from prefjudge.curate.report import CurationReport, StepReport

__all__ = [
    "BUILTIN_FILTERS", "CurationReport", "Filter", "KEPT_COLUMNS", "NgramIndex", "PreferenceSet", "StepReport",
    "balance_lengths", "chosen_ends_with", "chosen_starts_upper", "different_answers", "find_duplicates",
    "llm_twin_filters", "max_prompt_chars", "min_chosen_chars", "predicate", "share_longer", "to_preferences",
    "GENERATION_COLUMNS", "Generator", "STRATEGIES", "ResponseRanking", "agenerate", "arank_responses", "generate", "rank_responses",
    "build_card", "export", "push_to_hub", "HUB_IDS", "SCHEMAS", "detect_schema", "load_preferences", "seed_filters", "to_pairs",
    "complete_sentence_filters", "distilabel_orca_filters",
]
