"""The dataset card says what was done: the audit nests under its section, the chat template, where the
system prompts went, the decontamination benchmarks and the generation settings are recorded, and the
judges of a plain Dataset come from its rows. Also: the standard format folds the system prompt into
the prompt (TRL reads no system column), and drop_inconsistent says when consistency was never measured."""

from __future__ import annotations

import warnings

import pytest
from _curate_helpers import make_result, three_judges
from markdown_it import MarkdownIt

import prefjudge as pj
import prefjudge.curate as pc
from prefjudge.curate.card import build_card, demote


def _specs(n=4, system=None):
    return [{"id": f"p{i}", "prompt": f"Question number {i} about rivers?", "a": f"Answer A{i} is here.",
             "b": f"Answer B{i} is there.", "system": system, "model_a": "gen-a", "model_b": "gen-b",
             "verdicts": three_judges("a" if i % 2 else "b")} for i in range(n)]


class _Audit:
    def to_markdown(self):
        return "# Judge audit\n\nintro\n\n## Warnings\n\n- w\n\n## Judges\n\n| judge | n |\n|---|---|\n| j1 | 4 |\n"

    def to_dict(self):
        return {"simulated": None, "judges": {}, "warnings": []}


def _headings(text: str) -> list[tuple[str, str]]:
    tokens = MarkdownIt("commonmark").enable("table").parse(text)
    return [(t.tag, tokens[i + 1].content) for i, t in enumerate(tokens) if t.type == "heading_open"]


def test_the_audit_nests_under_its_section():
    heads = _headings(build_card(pc.to_preferences(make_result(_specs())), audit=_Audit()).text)
    at = heads.index(("h2", "Audit summary"))
    assert heads[at + 1:at + 4] == [("h3", "Judge audit"), ("h4", "Warnings"), ("h4", "Judges")]
    assert [h for h in heads if h[0] in ("h1", "h2")] == [
        ("h1", "Preference pairs built with prefjudge"), ("h2", "How the data was built"), ("h2", "Audit summary"),
        ("h2", "Filters and rows removed"), ("h2", "Columns"), ("h2", "Use")]


def test_demote_leaves_code_and_non_headings_alone():
    text = "# T\n```\n# not a heading\n```\n#hashtag\n    # indented code\n###### six"
    assert demote(text) == "### T\n```\n# not a heading\n```\n#hashtag\n    # indented code\n###### six"


def test_card_records_template_decontamination_and_generation():
    prefs = pc.to_preferences(make_result(_specs(), meta={"judges": [], "generation": {
        "generators": ["gen-a", "gen-b"], "n": 4, "temperature": [0.2, 1.0], "max_tokens": 64, "seed": 0}}),
        chat_template="chatml", decontaminate={"benchmarks": {"gsm8k": ["an unrelated benchmark question text"]}, "n": 5,
                                               "fields": ["prompt"]})
    text = build_card(prefs).text
    assert "- Chat template: `chatml`" in text
    assert "- Decontamination: against `gsm8k`, 1 text (5-word n-grams in `prompt`); 0 rows removed" in text
    assert ("- Generation: samples per prompt and generator `4`, temperature `[0.2, 1.0]`, max tokens `64`, seed `0`"
            in text)


def test_generation_settings_come_from_the_config_when_the_provenance_has_none(tmp_path):
    prefs = pc.to_preferences(make_result(_specs()))
    config = {"generators": [{"model": "m"}], "generate": {"n": 2, "temperature": 0.7}}
    out = pc.export(prefs, tmp_path / "o", config=config)
    text = (out / "README.md").read_text()
    assert "- Generation: samples per prompt and generator `2`, temperature `0.7`" in text
    assert "- Chat template: none (plain prompt text)" in text and "- Decontamination: none" in text
    assert "Generation: not recorded" in build_card(prefs).text


def test_a_plain_dataset_lists_the_judges_of_its_rows():
    """pj.export(prefs.dataset) used to claim "Judges: none recorded" though every row names its judges."""
    prefs = pc.to_preferences(make_result(_specs()))
    text = build_card(prefs.dataset).text
    assert "none recorded" not in text
    assert "- Judges: `j1`, `j2`, `j3` (names from the rows' `judges` column" in text
    assert "none recorded (labels came with the source data)" in build_card(prefs.dataset.remove_columns("judges")).text


def test_the_standard_format_folds_the_system_prompt_into_the_prompt(tmp_path):
    """TRL's DPOTrainer reads prompt/chosen/rejected only: a `system` column was dropped without a word."""
    prefs = pc.to_preferences(make_result(_specs(system="Answer like a geographer.")))
    assert "system" not in prefs.column_names
    assert prefs[0]["prompt"] == "Answer like a geographer.\n\nQuestion number 0 about rivers?"
    assert prefs.provenance["curation"]["system_prompt"] == "folded into the prompt text (4 rows)"
    assert "- System prompts: folded into the prompt text (4 rows)" in build_card(prefs).text
    multi = [{"prompt": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"},
                         {"role": "user", "content": "Bye?"}], "system": "S.", "chosen": "Bye.", "rejected": "No."}]
    assert pc.to_preferences(multi)[0]["prompt"] == "System: S.\n\nUser: Hi\n\nAssistant: Hello\n\nUser: Bye?"
    conv = pc.to_preferences(make_result(_specs(system="Answer like a geographer.")), format="conversational")
    assert conv[0]["prompt"][0] == {"role": "system", "content": "Answer like a geographer."}
    assert conv.provenance["curation"]["system_prompt"] == "a system message"
    assert pc.to_preferences(make_result(_specs())).provenance["curation"]["system_prompt"] is None


def test_drop_inconsistent_on_single_order_data_says_consistency_was_never_measured():
    with pytest.warns(UserWarning, match="consistency was never measured"):
        prefs = pc.to_preferences(make_result(_specs()), drop_inconsistent=True)
    step = next(s for s in prefs.report.steps if s.step == "inconsistent")
    assert step.removed == 0 and "never measured" in step.reason and step.details["consistency_measured"] is False
    assert "never measured" in prefs.report.to_markdown() and "never measured" in build_card(prefs).text
    both = [dict(s, verdicts=[("j1", "ab", "a"), ("j1", "ba", "a")]) for s in _specs()]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        measured = pc.to_preferences(make_result(both), drop_inconsistent=True)
    step = next(s for s in measured.report.steps if s.step == "inconsistent")
    assert step.details == {"pairs_seen_in_both_orders": 4, "consistency_measured": True}
    assert "never measured" not in step.reason


def test_public_export_of_a_plain_dataset_works(tmp_path):
    prefs = pc.to_preferences(make_result(_specs()))
    out = pj.export(prefs.dataset, tmp_path / "plain")
    assert "`j1`" in (out / "README.md").read_text()
