"""Label Studio tasks for pairwise review, and their annotations mapped back to the original a/b.

Pure: dictionaries in, dictionaries and tables out; no Label Studio here.

A task shows the prompt and the two answers as "Answer 1" (left) and "Answer 2" (right). Which of
``a``/``b`` is Answer 1 is drawn per pair (balanced over the project, seeded) and recorded in the
task's ``meta`` with the pair id and why the pair was selected. Label Studio shows a reviewer the
task's ``data`` only (the prompt and the answers): nothing there says which answer is ``a``, which
model wrote it, or what the judges said.

The labeling config uses ``<Choices>`` with three options rather than Label Studio's ``<Pairwise>``
tag: ``<Pairwise>`` records left or right only, while prefjudge's human labels (like its verdicts)
have a tie class, which the audit's human agreement counts as a class of its own.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any

from prefjudge.errors import InputError

if TYPE_CHECKING:
    import pandas as pd

#: Key of prefjudge's record in a task's ``meta``.
META_KEY = "prefjudge"
FROM_NAME = "preference"
TO_NAME = "prompt"
#: The labeling config: the prompt, the answers side by side, one required choice (hotkeys 1, 2, 3).
#: A choice's ``alias`` is what Label Studio stores in the annotation.
LABEL_CONFIG = f"""<View>
  <Header value="Which answer is better?"/>
  <View style="padding: 0.5em 1em; background: #f6f6f6; border-radius: 6px">
    <Header value="Prompt" size="5"/>
    <Text name="{TO_NAME}" value="$prompt"/>
  </View>
  <View style="display: flex; gap: 1.5em; margin-top: 1em">
    <View style="flex: 1 1 0; min-width: 0">
      <Header value="Answer 1" size="5"/>
      <Text name="answer_1" value="$answer_1"/>
    </View>
    <View style="flex: 1 1 0; min-width: 0">
      <Header value="Answer 2" size="5"/>
      <Text name="answer_2" value="$answer_2"/>
    </View>
  </View>
  <Choices name="{FROM_NAME}" toName="{TO_NAME}" choice="single-radio" required="true" showInline="true">
    <Choice value="Answer 1 is better" alias="1" hotkey="1"/>
    <Choice value="Answer 2 is better" alias="2" hotkey="2"/>
    <Choice value="Tie" alias="tie" hotkey="3"/>
  </Choices>
</View>"""
#: What a stored choice may be (its alias, or its value where an older client stored that) -> 1, 2 or tie.
_CHOICES = {"1": "1", "2": "2", "tie": "tie", "answer 1 is better": "1", "answer 2 is better": "2",
            "answer 1": "1", "answer 2": "2"}
#: Columns of :func:`labels_table`: one row per submitted (not skipped) annotation.
LABEL_COLUMNS: tuple[str, ...] = (
    "pair_id", "task_id", "annotation_id", "annotator", "choice", "answer_1", "human", "selected_because",
    "created_at", "lead_time",
)


def display_orders(n: int, seed: int) -> list[str]:
    """Which original answer is shown as Answer 1 for each of ``n`` tasks: half ``"a"``, half ``"b"``
    (one more ``"a"`` when ``n`` is odd), in an order drawn with ``seed``.

    >>> sorted(display_orders(5, 0)), display_orders(4, 7) == display_orders(4, 7)
    (['a', 'a', 'a', 'b', 'b'], True)
    """
    import numpy as np

    sides = np.array(["a" if k % 2 == 0 else "b" for k in range(n)], dtype=object)
    np.random.default_rng([seed, 1]).shuffle(sides)
    return [str(s) for s in sides]


def build_tasks(selection: pd.DataFrame, *, seed: int = 0) -> list[dict[str, Any]]:
    """One Label Studio task per row of :func:`~prefjudge.integrations.review.selection.select_pairs`.

    ``data`` holds what the reviewer sees (``prompt``, ``answer_1``, ``answer_2``); ``meta[META_KEY]``
    holds ``pair_id``, ``answer_1`` (``"a"`` or ``"b"``: which original answer is Answer 1),
    ``selected_because``, ``why`` and ``seed``.
    """
    from prefjudge.content import prompt_text

    sides = display_orders(len(selection), seed)
    tasks = []
    for side, row in zip(sides, selection.to_dict("records")):
        first, second = (row["response_a"], row["response_b"]) if side == "a" else (row["response_b"], row["response_a"])
        prompt = row["prompt"]
        if not isinstance(prompt, str):
            prompt = prompt_text(prompt.tolist() if hasattr(prompt, "tolist") else prompt)
        tasks.append({
            "data": {"prompt": prompt, "answer_1": first, "answer_2": second},
            "meta": {META_KEY: {"pair_id": str(row["pair_id"]), "answer_1": side, "selected_because": list(row["selected_because"]),
                                "why": row["why"], "seed": seed}},
        })
    return tasks


def to_original(choice: str, answer_1: str) -> str:
    """A display choice (``"1"``, ``"2"``, ``"tie"``) in terms of the original pair, given which
    original answer was Answer 1.

    >>> to_original("1", "b"), to_original("2", "b"), to_original("1", "a"), to_original("tie", "b")
    ('b', 'a', 'a', 'tie')
    """
    if choice == "tie":
        return "tie"
    other = "b" if answer_1 == "a" else "a"
    return answer_1 if choice == "1" else other


def choice_of(result: Any, *, task_id: Any = None) -> str | None:
    """The choice (``"1"``, ``"2"`` or ``"tie"``) in an annotation's ``result``; None when it holds none.

    >>> choice_of([{"from_name": "preference", "type": "choices", "value": {"choices": ["2"]}}])
    '2'
    """
    found = None
    for item in result or []:
        item = plain(item)
        if item.get("from_name") != FROM_NAME:
            continue
        chosen = (item.get("value") or {}).get("choices") or []
        if len(chosen) != 1 or str(chosen[0]).strip().lower() not in _CHOICES:
            raise InputError(f"the annotation's choice must be one of 1, 2, tie, not {chosen!r}",
                             row=None if task_id is None else f"task {task_id}", field=FROM_NAME)
        found = _CHOICES[str(chosen[0]).strip().lower()]
    return found


def labels_table(tasks: list[Any]) -> pd.DataFrame:
    """One row per submitted annotation of prefjudge's tasks (columns :data:`LABEL_COLUMNS`), each
    choice mapped back to the original a/b in ``human``.

    ``tasks``: Label Studio tasks as dictionaries (or SDK objects) with ``id``, ``meta`` and
    ``annotations``. Skipped annotations (``was_cancelled``) and annotations without a choice are left
    out; tasks that prefjudge did not create (no ``meta["prefjudge"]``) are ignored.
    """
    import pandas as pd

    rows = []
    for task in tasks:
        task = plain(task)
        rec = (task.get("meta") or {}).get(META_KEY)
        if not rec:
            continue
        side = rec.get("answer_1")
        if side not in ("a", "b") or not rec.get("pair_id"):
            raise InputError(f"meta.{META_KEY} must hold pair_id and answer_1 ('a' or 'b'), not {rec!r}",
                             row=f"task {task.get('id')}", field="meta")
        for ann in task.get("annotations") or []:
            ann = plain(ann)
            if ann.get("was_cancelled"):
                continue
            choice = choice_of(ann.get("result"), task_id=task.get("id"))
            if choice is None:
                continue
            rows.append({
                "pair_id": str(rec["pair_id"]), "task_id": task.get("id"), "annotation_id": ann.get("id"),
                "annotator": ann.get("completed_by"), "choice": choice, "answer_1": side, "human": to_original(choice, side),
                "selected_because": list(rec.get("selected_because") or []),
                "created_at": None if ann.get("created_at") is None else str(ann.get("created_at")),
                "lead_time": ann.get("lead_time"),
            })
    return pd.DataFrame(rows, columns=list(LABEL_COLUMNS))


def human_labels(labels: pd.DataFrame) -> dict[str, str | None]:
    """One label per pair from :func:`labels_table`: the reviewers' most frequent label; None when
    the most frequent labels are tied (the reviewers split; not a "tie" verdict).

    >>> import pandas as pd
    >>> human_labels(pd.DataFrame({"pair_id": ["p1", "p1", "p1", "p2", "p2"], "human": ["a", "a", "b", "a", "tie"]}))
    {'p1': 'a', 'p2': None}
    """
    out: dict[str, str | None] = {}
    for pid, group in labels.groupby("pair_id", sort=False):
        top = Counter(group["human"]).most_common()
        out[str(pid)] = top[0][0] if len(top) == 1 or top[0][1] > top[1][1] else None
    return out


def plain(obj: Any) -> dict[str, Any]:
    """A dictionary of an SDK object (pydantic model) or of a dictionary."""
    if isinstance(obj, dict):
        return obj
    if hasattr(obj, "model_dump"):
        return obj.model_dump(warnings=False)  # the SDK's models hold values their declared types do not list
    if hasattr(obj, "dict"):
        return obj.dict()
    return dict(vars(obj))
