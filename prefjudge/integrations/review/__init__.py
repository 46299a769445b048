"""Human review in Label Studio: send the pairs worth a person's look, read the labels back.

``pj.review`` is this module. :func:`export` picks pairs from a RankResult or a judgments table (the
contested ones, the ones a judge answered differently in the two display orders, and a seeded random
sample; see :mod:`prefjudge.integrations.review.selection`), creates a pairwise-comparison project
in Label Studio with one task per pair, and returns a :class:`ReviewProject`. Reviewers pick the
better answer (or a tie) in Label Studio. :func:`collect` reads their annotations back into the
``human`` column of the data, so :func:`prefjudge.audit` reports judge-human agreement on them.

The answers are shown as "Answer 1" and "Answer 2" in a seeded, balanced random order recorded in
each task's ``meta`` (see :mod:`prefjudge.integrations.review.tasks`); ``collect`` maps the choices
back to ``a``/``b``. Needs the ``review`` extra (``pip install "prefjudge[review]"``: label-studio-sdk),
imported when a call reaches Label Studio; importing this module is cheap. See docs/review.md.
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Literal, overload

from pydantic import Field

from prefjudge.config_base import StrictModel
from prefjudge.errors import InputError
from prefjudge.integrations.review.label_studio import INSTALL, LabelStudioError
from prefjudge.integrations.review.selection import REASONS, select_pairs
from prefjudge.integrations.review.tasks import LABEL_CONFIG, META_KEY

if TYPE_CHECKING:
    import pandas as pd

    from prefjudge.aggregation.jury import RuleName
    from prefjudge.result import RankResult

__all__ = ["INSTALL", "LABEL_CONFIG", "LabelStudioError", "ReviewProject", "ReviewTask", "collect", "export", "fetch_labels",
           "select_pairs"]

Reason = Literal["chosen", "contested", "inconsistent", "random"]


class ReviewTask(StrictModel):
    """One task of a review project: the pair, where its answers are shown, why it is there."""

    pair_id: str
    task_id: int
    answer_1: Literal["a", "b"]
    """Which original answer Label Studio shows as Answer 1 (the other is Answer 2)."""
    selected_because: list[Reason]
    why: str


class ReviewProject(StrictModel):
    """What :func:`export` made: the Label Studio project and its tasks. Save it with
    ``project.model_dump_json()`` and load it with ``ReviewProject.model_validate_json(text)``;
    :func:`collect` needs only ``url`` and ``project_id`` (the tasks' ``meta`` holds the rest)."""

    url: str
    project_id: int
    title: str
    seed: int
    tasks: list[ReviewTask] = Field(default_factory=list)

    def pair_ids(self, reason: Reason | None = None) -> list[str]:
        """The pair ids of the tasks, or of those selected for ``reason``."""
        return [t.pair_id for t in self.tasks if reason is None or reason in t.selected_because]

    def to_pandas(self) -> pd.DataFrame:
        """One row per task: pair_id, task_id, answer_1, selected_because, why."""
        import pandas as pd

        return pd.DataFrame([t.model_dump() for t in self.tasks], columns=list(ReviewTask.model_fields))

    def __repr__(self) -> str:
        from prefjudge.secrets import redact_url

        counts = ", ".join(f"{r} {n}" for r in REASONS if (n := sum(r in t.selected_because for t in self.tasks)))
        return f"ReviewProject({len(self.tasks)} tasks in Label Studio project {self.project_id} at {redact_url(self.url)}: {counts})"

    __str__ = __repr__


def export(
    data: Any,
    *,
    url: str | None = None,
    api_key: str | None = None,
    title: str = "prefjudge pairwise review",
    n_contested: int = 20,
    n_inconsistent: int = 20,
    n_random: int = 20,
    pair_ids: Sequence[str] = (),
    seed: int = 0,
    aggregate: RuleName | Callable[..., Any] = "majority",
    close: float = 0.1,
    instructions: str | None = None,
    annotators_per_task: int = 1,
) -> ReviewProject:
    """Create a Label Studio project to review the pairs of ``data`` that most need a person.

    ``data``: a RankResult, or a judgments table with prompt, response_a and response_b (anything
    :func:`prefjudge.audit` reads). Selected (see :func:`select_pairs`): the ``n_contested`` most
    contested pairs, ``n_inconsistent`` pairs a judge answered differently in the two orders, a random
    sample of ``n_random`` pairs drawn with ``seed`` (for an unbiased estimate of agreement), and the
    ``pair_ids`` you name. ``aggregate`` is used when ``data`` has no recorded outcomes; ``close``: a
    jury ``p_a`` within this distance of 0.5 counts as contested.

    ``url``/``api_key``: the server and an access token (default: the environment variables
    LABEL_STUDIO_URL and LABEL_STUDIO_API_KEY, as for the SDK). ``instructions``: HTML shown to the
    reviewers before they start. ``annotators_per_task``: how many reviewers label each task.
    Raises :class:`LabelStudioError` when Label Studio refuses a call (a project left half-made is
    deleted), and a ConfigError naming ``pip install "prefjudge[review]"`` without the SDK.
    """
    from prefjudge.integrations.review.label_studio import Client
    from prefjudge.integrations.review.tasks import build_tasks, plain

    if len(title.strip()) < 3:
        raise InputError("a Label Studio project title needs at least 3 characters", field="title")
    if isinstance(annotators_per_task, bool) or not isinstance(annotators_per_task, int) or annotators_per_task < 1:
        raise InputError(f"must be a whole number >= 1, not {annotators_per_task!r}", field="annotators_per_task")
    selection = select_pairs(data, n_contested=n_contested, n_inconsistent=n_inconsistent, n_random=n_random,
                             pair_ids=pair_ids, seed=seed, aggregate=aggregate, close=close)
    if selection.empty:
        raise InputError("nothing to review: no pair was selected (no contested or inconsistent pair, n_random=0, no pair_ids)")
    tasks = build_tasks(selection, seed=seed)
    counts = ", ".join(f"{n} {r}" for r in REASONS if (n := sum(r in s for s in selection["selected_because"])))
    description = (f"Pairs selected by prefjudge for human review ({counts}; seed {seed}). Pick the better answer, "
                   "or Tie. The answers are shown in a random order.")
    with Client(url, api_key) as client:
        project_id = client.create_project(title=title, description=description, label_config=LABEL_CONFIG,
                                           instructions=instructions, annotators_per_task=annotators_per_task)
        try:
            client.import_tasks(project_id, tasks)
            listed = client.tasks(project_id)
        except BaseException:
            try:
                client.delete_project(project_id)
            except LabelStudioError:
                pass
            raise
    task_ids = {}
    for t in map(plain, listed):
        rec = (t.get("meta") or {}).get(META_KEY) or {}
        if rec.get("pair_id") is not None:
            task_ids[str(rec["pair_id"])] = int(t["id"])
    missing = [t["meta"][META_KEY]["pair_id"] for t in tasks if t["meta"][META_KEY]["pair_id"] not in task_ids]
    if missing:
        raise LabelStudioError(f"Label Studio at {client.url}: project {project_id} lacks the tasks of {len(missing)} pair(s) "
                               f"after the import (e.g. {missing[0]!r})")
    return ReviewProject(
        url=client.url, project_id=project_id, title=title, seed=seed,
        tasks=[ReviewTask(pair_id=m["pair_id"], task_id=task_ids[m["pair_id"]], answer_1=m["answer_1"],
                          selected_because=m["selected_because"], why=m["why"])
               for m in (t["meta"][META_KEY] for t in tasks)],
    )


def fetch_labels(project: ReviewProject | int, *, url: str | None = None, api_key: str | None = None) -> pd.DataFrame:
    """Every submitted annotation of the project, one row each, the choice mapped back to the
    original a/b in ``human`` (columns :data:`prefjudge.integrations.review.tasks.LABEL_COLUMNS`).

    ``project``: what :func:`export` returned (its url is the default ``url``), or a project id.
    Skipped annotations and tasks prefjudge did not create are left out.
    """
    from prefjudge.integrations.review.label_studio import Client
    from prefjudge.integrations.review.tasks import labels_table

    project_id, url = _where(project, url)
    with Client(url, api_key) as client:
        return labels_table(client.tasks(project_id))


@overload
def collect(project: ReviewProject | int, data: RankResult, *, url: str | None = ..., api_key: str | None = ...,
            only: Reason | None = ...) -> RankResult: ...
@overload
def collect(project: ReviewProject | int, data: Any, *, url: str | None = ..., api_key: str | None = ...,
            only: Reason | None = ...) -> pd.DataFrame: ...
def collect(project: ReviewProject | int, data: Any, *, url: str | None = None, api_key: str | None = None,
            only: Reason | None = None) -> Any:
    """``data`` with the reviewers' labels in its ``human`` column, ready for :func:`prefjudge.audit`.

    A RankResult gives a RankResult (``pairs`` and ``judgments`` labelled); anything else the audit
    reads gives the normalized judgments table. A pair's label is its reviewers' most frequent
    choice (several reviewers who split evenly give no label); it replaces any human label the pair
    had, and pairs nobody labelled keep theirs. ``only="random"`` takes the labels of the random
    sample only (then the audit's human agreement estimates that of the whole data set; on the
    contested pairs it is lower by design). Warns when labelled pairs are missing from ``data``.
    """
    from prefjudge.integrations.review.tasks import human_labels

    if only is not None and only not in REASONS:
        raise InputError(f"must be one of {', '.join(REASONS)} or None, not {only!r}", field="only")
    labels = fetch_labels(project, url=url, api_key=api_key)
    if only is not None:
        labels = labels[[only in s for s in labels["selected_because"]]]
    return with_human(data, human_labels(labels))


def with_human(data: Any, human: dict[str, str | None]) -> Any:
    """``data`` (a RankResult, or anything the audit reads) with ``human`` set for the pairs in ``human``.

    A None label clears the pair's human label (its reviewers split)."""
    from prefjudge.audit.importers import load_input
    from prefjudge.judgments import as_objects

    is_result = hasattr(data, "judgments") and hasattr(data, "outcomes") and hasattr(data, "pairs")
    if is_result:
        table = data.judgments.copy()
        if "human" not in table.columns:
            table["human"] = None
    else:
        table = load_input(data).table.copy()
    present = set(table["pair_id"].astype(str))
    found = [p for p in human if p in present]
    if human and not found:
        raise InputError(f"none of the {len(human)} reviewed pairs is in this data (reviewed ids such as {next(iter(human))!r}; "
                         f"data ids such as {next(iter(present), None)!r})", field="pair_id")
    if len(found) < len(human):
        warnings.warn(f"{len(human) - len(found)} reviewed pair(s) are not in this data and were left out", stacklevel=3)
    table["human"] = _relabel(table["pair_id"], table["human"], human)
    as_objects(table, ["human"])
    if not is_result:
        return table
    from prefjudge.result import RankResult

    pairs = data.pairs.copy()
    pairs["human"] = _relabel(pairs["id"], pairs["human"] if "human" in pairs.columns else None, human)
    as_objects(pairs, ["human"])
    return RankResult(pairs=pairs, judgments=table, outcomes=data.outcomes, meta=dict(data.meta or {}),
                      not_judged=data.not_judged)


def _relabel(ids: Any, current: Any, human: dict[str, str | None]) -> list[Any]:
    old = [None] * len(ids) if current is None else list(current)
    return [human[i] if i in human else o for i, o in zip(ids.astype(str), old)]


def _where(project: ReviewProject | int, url: str | None) -> tuple[int, str | None]:
    if isinstance(project, ReviewProject):
        return project.project_id, url or project.url
    if isinstance(project, bool) or not isinstance(project, int):
        raise InputError(f"must be a ReviewProject (what pj.review.export returned) or a project id, not {type(project).__name__}",
                         field="project")
    return project, url


#: What ``pj.review`` resolves to: prefjudge's lazy exports name an attribute of a module, and
#: ``pj.review`` is this module itself.
_this_module = sys.modules[__name__]
