"""Candidate answers grouped by prompt: the input of ``rank_responses``, validated.

Two layouts are accepted (list of dicts, DataFrame or Dataset):

- one row per candidate: ``prompt``, ``response``, optional ``model``, ``prompt_id``, ``system``
  (rows of the same prompt are grouped by ``prompt_id``, or by prompt and system text);
- one row per prompt: ``prompt`` and a ``responses`` list, optional ``models`` list, ``prompt_id``, ``system``.

The output of :func:`prefjudge.curate.generate.generate` is the first layout; its failed rows
(``response`` null, ``error`` set) are skipped and counted.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from prefjudge.content import content_id
from prefjudge.errors import InputError
from prefjudge.formatting.rows import check_prompt, check_text, clean_optional, is_missing, to_frame
from prefjudge.textcheck import check_chars


@dataclass
class Group:
    """The candidates of one prompt."""

    prompt_id: str
    prompt: str | list[dict[str, str]]
    system: str | None
    responses: list[str] = field(default_factory=list)
    models: list[str | None] = field(default_factory=list)
    rows: list[int] = field(default_factory=list)
    duplicates: int = 0

    def add(self, response: str, model: str | None, row: int) -> None:
        if response.strip() in {r.strip() for r in self.responses}:
            self.duplicates += 1  # the same text twice: one candidate (a judge cannot tell them apart)
            return
        self.responses.append(response)
        self.models.append(model)
        self.rows.append(row)

    @property
    def candidate_ids(self) -> list[str]:
        return [f"{self.prompt_id}#{k}" for k in range(len(self.responses))]


def normalize_candidates(data: Any) -> tuple[list[Group], int]:
    """(groups in first-seen order, number of failed generation rows skipped)."""
    df = to_frame(data)
    if "prompt" not in df.columns:
        raise InputError(f"candidates need a 'prompt' column; got {list(df.columns)}", field="prompt")
    if "responses" in df.columns:
        groups, skipped = _from_lists(df.to_dict("records")), 0
    elif "response" in df.columns:
        groups, skipped = _from_rows(df.to_dict("records"))
    else:
        raise InputError("candidates need a 'response' column (one row per candidate) or a 'responses' list "
                         f"(one row per prompt); got {list(df.columns)}", field="response")
    if not groups:
        raise InputError("no candidates given")
    for g in groups:
        if len(g.responses) < 2:
            extra = f" ({g.duplicates} duplicate text(s) removed)" if g.duplicates else ""
            raise InputError(f"prompt {g.prompt_id!r} has {len(g.responses)} distinct candidate(s){extra}; "
                             "ranking needs at least 2", row=g.rows[0] if g.rows else None, field="response")
    return groups, skipped


def _system(r: dict, i: int) -> str | None:
    s = clean_optional(r.get("system"))
    if s is not None and not isinstance(s, str):
        raise InputError(f"expected a string, got {type(s).__name__}", row=i, field="system")
    return check_chars(s, i, "system") or None


def _model(value: Any, i: int, field_name: str) -> str | None:
    value = clean_optional(value)
    if value is not None and not isinstance(value, str):
        raise InputError(f"expected a string, got {type(value).__name__}", row=i, field=field_name)
    return check_chars(value, i, field_name)


def _group_for(groups: dict[str, Group], r: dict, i: int) -> Group:
    prompt, system = check_prompt(r["prompt"], i), _system(r, i)
    pid = r.get("prompt_id")
    pid = content_id(prompt, system) if is_missing(pid) else check_chars(str(pid), i, "prompt_id")
    g = groups.get(pid)
    if g is None:
        g = groups[pid] = Group(pid, prompt, system)
    elif g.prompt != prompt or g.system != system:
        raise InputError(f"prompt_id {pid!r} is used with two different prompts", row=i, field="prompt")
    return g


def _from_rows(records: list[dict]) -> tuple[list[Group], int]:
    groups: dict[str, Group] = {}
    skipped = 0
    for i, r in enumerate(records):
        if is_missing(r.get("response")) and not is_missing(r.get("error")):
            skipped += 1  # a generation that failed for good: its error is in the generate output
            continue
        g = _group_for(groups, r, i)
        g.add(check_text(r.get("response"), i, "response"), _model(r.get("model"), i, "model"), i)
    return list(groups.values()), skipped


def _from_lists(records: list[dict]) -> list[Group]:
    groups: dict[str, Group] = {}
    for i, r in enumerate(records):
        responses = r.get("responses")
        responses = responses.tolist() if hasattr(responses, "tolist") else responses
        if not isinstance(responses, list):
            raise InputError(f"expected a list of answers, got {type(responses).__name__}", row=i, field="responses")
        models = r.get("models")
        models = models.tolist() if hasattr(models, "tolist") else models
        if is_missing(models):
            models = [None] * len(responses)
        if not isinstance(models, list) or len(models) != len(responses):
            raise InputError(f"'models' must be a list as long as 'responses' ({len(responses)})", row=i, field="models")
        g = _group_for(groups, r, i)
        for k, (text, model) in enumerate(zip(responses, models)):
            g.add(check_text(text, i, f"responses[{k}]"), _model(model, i, f"models[{k}]"), i)
    return list(groups.values())


def readable_rows(data: Any) -> Any:
    """What :func:`normalize_candidates` reads: lists, DataFrames and Datasets as they are; files,
    generators and IterableDatasets read into a list of rows (candidates are grouped in memory)."""
    from prefjudge.judging.inputs import is_path, iter_rows

    if isinstance(data, (list, Mapping)) or (hasattr(data, "columns") and hasattr(data, "iloc")):
        return data
    if not is_path(data) and hasattr(data, "to_pandas") and hasattr(data, "column_names") and hasattr(data, "__len__"):
        return data  # datasets.Dataset
    return list(iter_rows(data, "candidates"))
