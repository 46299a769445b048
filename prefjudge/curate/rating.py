"""``rate``: one judge call per answer (single-answer grading), scores parsed as typed values.

N candidates cost N calls per judge (not N(N-1)/2 pairs). The rows are flat (``prompt``,
``response``, optional ``id``, ``prompt_id``, ``system``, ``model``, ``reference``), or candidates rows
(``prompt``, a ``responses`` list, optional ``models`` list, read as ``rank_responses`` reads them,
:mod:`prefjudge.curate.candidates`) expanded to one call per response. LLM calls go through the
:class:`~prefjudge.judging.engine.Engine` (store, cache, retries, rate limits, resume) with
``kind="rate"``; a :class:`~prefjudge.backends.reward.RewardModel` among the judges scores every
answer locally (its score is the raw reward).

Templates (``# kind: rating``, :mod:`prefjudge.judging.templates`): ``single`` (MT-Bench 1-10,
``Rating: [[5]]``; ``single_ref`` when references are given), ``ultrafeedback`` (four aspects 1-5),
``rubric`` (Prometheus 1-5, ``[RESULT] 4``, with ``rubric=``), or a file path. A score is read by
:func:`prefjudge.judging.rating_parse.parse_rating` (quote-safe, the judge's own final score, out of
scale is an error); an unreadable rating is re-asked once (with a code no answer holds when every
score found could come from the answer).
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Union

from prefjudge.backends.reward import RewardModel
from prefjudge.content import prompt_text, system_text
from prefjudge.errors import ConfigError, InputError
from prefjudge.judging.judge import Judge
from prefjudge.judging.rating_parse import (
    NOT_OWN_RATING,
    REASK_CODED_RATING,
    REASK_RATING,
    Rating,
    coded_format,
    parse_coded_rating,
    parse_rating,
    rating_code,
    rating_format,
)
from prefjudge.judging.templates import Template, load_template

if TYPE_CHECKING:
    import datasets
    import pandas as pd

    from prefjudge.aggregation.jury import Jury
    from prefjudge.curate.rating_result import RatingResult
    from prefjudge.judging.engine import Engine
    from prefjudge.judging.store import Store

RowsInput = Union["pd.DataFrame", "datasets.Dataset", "datasets.IterableDataset", str, Path, Iterable[Mapping[str, Any]]]
Rater = Union[Judge, RewardModel]
RatersInput = Union[Judge, RewardModel, Sequence[Rater], "Jury"]
StoreInput = Union[str, Path, "Store", None]
RubricInput = Union[str, Mapping[str, str], None]
ReferenceInput = Union[str, Sequence[Union[str, None]], None]

#: Columns of ``RatingResult.ratings``: one row per (answer, judge).
RATING_COLUMNS: tuple[str, ...] = (
    "id", "prompt_id", "prompt", "system", "response", "model", "reference", "judge", "judge_family", "kind",
    "score", "aspects", "raw", "error", "latency_s", "prompt_tokens", "completion_tokens", "cost_usd", "cached",
)
ITEM_COLUMNS: tuple[str, ...] = ("id", "prompt_id", "prompt", "system", "response", "model", "reference")
_RUBRIC_KEYS = ("criteria", "score1_description", "score2_description", "score3_description", "score4_description",
                "score5_description")


@dataclass(frozen=True)
class Item:
    """One answer to rate."""

    id: str
    prompt_id: str
    prompt: Any
    system: str | None
    response: str
    model: str | None
    reference: str | None
    row: int

    def call_key(self) -> tuple:
        """What the judge is shown: answers with the same key share one call."""
        return (prompt_text(self.prompt), system_text(self.prompt, self.system), self.response, self.reference)


# -- input ---------------------------------------------------------------------------------------
def read_items(rows: RowsInput, reference: ReferenceInput = None) -> tuple[list[Item], dict[str, int]]:
    """The answers to rate, validated (errors name the row and field), and counts of what was skipped."""
    from prefjudge.curate.candidates import _from_lists, _group_for, _model, readable_rows
    from prefjudge.formatting.rows import check_text, clean_optional, is_missing, to_frame

    df = to_frame(readable_rows(rows))
    if "prompt" not in df.columns:
        raise InputError(f"rows need a 'prompt' column; got {list(df.columns)}", field="prompt")
    records = df.to_dict("records")
    column = reference if isinstance(reference, str) else "reference" if reference is None else None
    if isinstance(reference, str) and reference not in df.columns:
        raise InputError(f"reference={reference!r} names no column; the rows have {list(df.columns)}", field=reference)
    if reference is not None and not isinstance(reference, str):
        reference = list(reference)
        if len(reference) != len(records):
            raise InputError(f"reference has {len(reference)} values for {len(records)} rows", field="reference")

    def ref_of(i: int) -> str | None:
        value = records[i].get(column) if column is not None else reference[i]  # type: ignore[index]
        value = clean_optional(value)
        return None if value is None else check_text(value, i, column or "reference")

    items: list[Item] = []
    counts = {"skipped_failed_generations": 0, "duplicates": 0}
    if "responses" in df.columns:
        for g in _from_lists(records):
            counts["duplicates"] += g.duplicates
            for cid, text, model, row in zip(g.candidate_ids, g.responses, g.models, g.rows):
                items.append(Item(cid, g.prompt_id, g.prompt, g.system, text, model, ref_of(row), row))
    elif "response" in df.columns:
        groups: dict = {}
        n_in_group: dict[str, int] = {}
        for i, r in enumerate(records):
            if is_missing(r.get("response")) and not is_missing(r.get("error")):
                counts["skipped_failed_generations"] += 1  # a generation that failed for good
                continue
            g = _group_for(groups, r, i)
            k = n_in_group.get(g.prompt_id, 0)
            n_in_group[g.prompt_id] = k + 1
            rid = clean_optional(r.get("id"))
            items.append(Item(f"{g.prompt_id}#{k}" if rid is None else str(rid), g.prompt_id, g.prompt, g.system,
                              check_text(r.get("response"), i, "response"), _model(r.get("model"), i, "model"),
                              ref_of(i), i))
    else:
        raise InputError("rows need a 'response' column (one row per answer) or a 'responses' list "
                         f"(one row per prompt); got {list(df.columns)}", field="response")
    if not items:
        raise InputError("no answers to rate")
    seen: dict[str, int] = {}
    for it in items:
        if it.id in seen:
            raise InputError(f"duplicate id {it.id!r} (first at row {seen[it.id]})", row=it.row, field="id")
        seen[it.id] = it.row
    return items, counts


def format_rubric(rubric: RubricInput) -> str | None:
    """The rubric as the judge reads it: a string as is, or Prometheus' mapping (``criteria``,
    ``score1_description`` ... ``score5_description``) as ``[criteria]`` and ``Score N: ...`` lines.

    >>> print(format_rubric({"criteria": "Is it concise?", "score1_description": "Rambling.",
    ...                      "score5_description": "Concise."}))
    [Is it concise?]
    Score 1: Rambling.
    Score 5: Concise.
    """
    if rubric is None:
        return None
    if isinstance(rubric, str):
        if not rubric.strip():
            raise InputError("the rubric is empty", field="rubric")
        return rubric
    if isinstance(rubric, Mapping):
        unknown = sorted(set(rubric) - set(_RUBRIC_KEYS))
        if unknown or "criteria" not in rubric:
            raise InputError(f"a rubric mapping needs 'criteria' and may have score1_description..score5_description; "
                             f"unknown: {unknown}", field="rubric")
        lines = [f"[{rubric['criteria']}]"]
        lines += [f"Score {k}: {rubric[f'score{k}_description']}" for k in range(1, 6) if f"score{k}_description" in rubric]
        return "\n".join(lines)
    raise InputError(f"rubric must be a string or a mapping, not {type(rubric).__name__}", field="rubric")


def resolve_template(template: str | Path, has_references: bool, rubric: str | None) -> tuple[Template, str]:
    """(the rating template, how to load it again) for the run; ``single`` with references is ``single_ref``."""
    ref = str(template)
    if ref == "single" and has_references:
        ref = "single_ref"
    t = load_template(ref)
    if t.kind != "rating":
        raise ConfigError(f"template {ref!r} compares pairs; rate needs a rating template (# kind: rating): "
                          "'single', 'single_ref', 'ultrafeedback', 'rubric' or a file")
    shows_reference = t.uses("reference") or t.uses("reference_block")
    if has_references and not shows_reference:
        raise ConfigError(f"references were given but template {ref!r} has no {{{{reference}}}} or "
                          "{{reference_block}} placeholder: the judge would never see them")
    if t.uses("rubric") and rubric is None:
        raise ConfigError(f"template {ref!r} needs a rubric: pass rubric='...' (or a Prometheus rubric mapping)")
    if rubric is not None and not t.uses("rubric"):
        raise ConfigError(f"a rubric was given but template {ref!r} has no {{{{rubric}}}} placeholder; use template='rubric'")
    return t, ref


def split_raters(judges: RatersInput) -> tuple[list[Judge], list[RewardModel]]:
    if hasattr(judges, "aggregate_table") and hasattr(judges, "judges"):
        judges = list(judges.judges)  # type: ignore[union-attr]
    raters = [judges] if isinstance(judges, (Judge, RewardModel)) else list(judges or [])  # type: ignore[arg-type]
    if not raters:
        raise InputError("no judges given", field="judges")
    for r in raters:
        if not isinstance(r, (Judge, RewardModel)):
            raise InputError(f"judges must be prefjudge.Judge or prefjudge.RewardModel objects, got {type(r).__name__}",
                             field="judges")
    names = [r.name for r in raters]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise InputError(f"judge names must be unique; repeated: {dupes} (set name=...)", field="judges")
    return [r for r in raters if isinstance(r, Judge)], [r for r in raters if isinstance(r, RewardModel)]


# -- one call ------------------------------------------------------------------------------------
@dataclass
class Outcome:
    rating: Rating
    latency_s: float | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    cost_usd: float | None = None
    cached: bool = False


def _sum(values: Iterable[Any]) -> Any:
    vals = [v for v in values if v is not None]
    return sum(vals) if vals else None


async def rate_one(engine: Engine, judge: Judge, template: Template, item: Item, rubric: str | None) -> Outcome:
    """Render, call, parse; re-ask once when the rating cannot be read (coded when every score found
    could come from a shown text)."""
    question, system = prompt_text(item.prompt), system_text(item.prompt, item.system)
    messages = template.render_rating(question=question, answer=item.response, system=system,
                                      reference=item.reference, rubric=rubric)
    params = engine.params(judge)
    out = await engine.complete(judge, messages, params, kind="rate")
    calls = [out]
    spec = {"scale": template.scale, "aspects": template.aspects}
    shown = [item.response, item.reference]
    if out.completion is None:
        rating = Rating(score=None, error=out.error or "no completion")
    else:
        raw = out.completion.text
        rating = parse_rating(raw, marker=template.marker, shown=shown, **spec)  # type: ignore[arg-type]
        if not rating.ok and judge.reask:
            lo, hi = (f"{x:g}" for x in template.scale)  # type: ignore[union-attr]
            if NOT_OWN_RATING in (rating.error or ""):
                code = rating_code(question, item.response, item.reference)
                ask = REASK_CODED_RATING.format(lo=lo, hi=hi, format=coded_format(code, template.aspects))

                def read(text: str) -> Rating:
                    return parse_coded_rating(text, code, **spec)  # type: ignore[arg-type]
            else:
                ask = REASK_RATING.format(error=rating.error, format=rating_format(template.scale, template.aspects,  # type: ignore[arg-type]
                                                                                   template.marker))

                def read(text: str) -> Rating:
                    return parse_rating(text, marker=template.marker, shown=shown, **spec)  # type: ignore[arg-type]
            follow = messages + [{"role": "assistant", "content": raw}, {"role": "user", "content": ask}]
            again = await engine.complete(judge, follow, params, kind="reask")
            calls.append(again)
            if again.completion is not None:
                raw = f"{raw}\n\n[re-ask]\n{again.completion.text}"
                second = read(again.completion.text)
                rating = second if second.ok else rating
            elif again.error:
                rating = rating.model_copy(update={"error": f"{rating.error} (re-ask failed: {again.error})"})
        rating = rating.model_copy(update={"raw": raw})
    return Outcome(rating, _sum(c.latency_s for c in calls),
                   _sum(c.completion and c.completion.prompt_tokens for c in calls),
                   _sum(c.completion and c.completion.completion_tokens for c in calls),
                   _sum(c.cost_usd for c in calls), all(c.cached for c in calls))


def _reward_outcomes(rm: RewardModel, items: list[Item]) -> list[Outcome]:
    """Every answer's raw reward, batched; a model error fails them all as values."""
    t0 = time.perf_counter()
    try:
        scores = rm.score([it.prompt for it in items], [it.response for it in items], [it.system for it in items])
    except (ConfigError, InputError):
        raise
    except Exception as exc:  # out of memory, a bad input: failed ratings, not a crash
        error = f"{type(exc).__name__}: {exc}"
        return [Outcome(Rating(score=None, error=error)) for _ in items]
    latency = (time.perf_counter() - t0) / max(len(items), 1)
    out = []
    for s in scores:
        ok = s == s  # NaN is no score
        out.append(Outcome(Rating(score=float(s) if ok else None, raw=f"reward={s:.6g}",
                                  error=None if ok else "the reward model returned NaN"), latency_s=latency))
    return out


# -- the verb ------------------------------------------------------------------------------------
def rate(rows: RowsInput, judges: RatersInput, *, template: str | Path = "single", reference: ReferenceInput = None,
         rubric: RubricInput = None, seed: int = 0, store: StoreInput = None,
         progress: bool | None = None) -> RatingResult:
    """Rate every answer with every judge; see :func:`arate` for the arguments."""
    from prefjudge.judging.rank_pairs import run_sync

    return run_sync(arate(rows, judges, template=template, reference=reference, rubric=rubric, seed=seed,
                          store=store, progress=progress))


async def arate(rows: RowsInput, judges: RatersInput, *, template: str | Path = "single",
                reference: ReferenceInput = None, rubric: RubricInput = None, seed: int = 0,
                store: StoreInput = None, progress: bool | None = None) -> RatingResult:
    """Async :func:`rate`: one call per answer and LLM judge, one local score per answer and reward model.

    ``rows``: flat rows (``prompt``, ``response``, optional ``id``, ``prompt_id``, ``system``, ``model``,
    ``reference``) or candidates rows (``prompt``, ``responses`` list, optional ``models`` list), as a
    list, DataFrame, Dataset or .jsonl/.parquet path. Answers without an ``id`` are ``"{prompt_id}#k"``.
    ``judges``: a Judge, a RewardModel, a list of both, or a Jury (its judges).
    ``template``: ``"single"`` (MT-Bench 1-10; ``"single_ref"`` when references are given),
    ``"ultrafeedback"`` (helpfulness, honesty, instruction following, truthfulness, 1-5; the score is
    their mean), ``"rubric"`` (Prometheus 1-5, needs ``rubric``) or a template file.
    ``reference``: the column holding reference answers (default: ``reference`` when the rows have it),
    or one reference per input row. ``rubric``: a string, or Prometheus' mapping (``criteria``,
    ``score1_description``...). ``seed``: recorded, and the default seed of ``preference_rows()``
    and the audit's bootstraps. ``store``: as for ``rank_pairs`` (a rerun reads finished calls).
    """
    from prefjudge.curate.rating_result import RatingResult
    from prefjudge.judging.engine import Engine
    from prefjudge.judging.progress import ProgressBar
    from prefjudge.judging.store import Store

    items, counts = read_items(rows, reference)
    rubric_text = format_rubric(rubric)
    tpl, tpl_ref = resolve_template(template, any(it.reference is not None for it in items), rubric_text)
    if tpl.uses("reference"):
        missing = next((it for it in items if it.reference is None), None)
        if missing is not None:
            raise InputError(f"template {tpl_ref!r} shows a reference answer, and this answer has none",
                             row=missing.row, field=reference if isinstance(reference, str) else "reference")
    llm, rms = split_raters(judges)
    for j in llm:
        j.preflight(template=False)
    for rm in rms:
        rm.preflight()
    raters = [j.model_copy(update={"template": tpl_ref, "mode": "verdict"}) for j in llm]

    unique: dict[tuple, int] = {}
    for k, it in enumerate(items):
        unique.setdefault(it.call_key(), k)
    firsts = sorted(set(unique.values()))
    slot = {k: unique[it.call_key()] for k, it in enumerate(items)}

    opened = store if hasattr(store, "get") and hasattr(store, "put") else Store(store)  # type: ignore[arg-type]
    engine = Engine(opened)  # type: ignore[arg-type]
    bar = ProgressBar(len(firsts) * (len(raters) + len(rms)), "rating", progress)
    results: dict[tuple[str, int], Outcome] = {}
    try:
        work = [(j, k) for j in raters for k in firsts]
        window = max(1, min(len(work), 2 * sum(j.max_concurrency for j in raters))) if work else 1

        async def worker(queue: list) -> None:
            while queue:
                judge, k = queue.pop()
                outcome = await rate_one(engine, judge, tpl, items[k], rubric_text)
                results[(judge.name, k)] = outcome
                bar.advance(failed=not outcome.rating.ok, cost=None if outcome.cached else outcome.cost_usd)

        async def reward(rm: RewardModel) -> None:
            outcomes = await asyncio.to_thread(_reward_outcomes, rm, [items[k] for k in firsts])
            for k, outcome in zip(firsts, outcomes):
                results[(rm.name, k)] = outcome
            bar.advance(failed=False, n=len(firsts))

        queue = list(reversed(work))
        await asyncio.gather(*(worker(queue) for _ in range(window)), *(reward(rm) for rm in rms))
    finally:
        bar.close()
        try:
            await engine.aclose()
        finally:
            if opened is not store:
                opened.close()

    table = _ratings_table(items, slot, [*raters, *rms], results)
    meta = _meta(tpl, tpl_ref, raters, rms, rubric_text, seed, counts, engine, items)
    return RatingResult(ratings=table, items=_items_table(items), meta=meta)


def _items_table(items: list[Item]) -> pd.DataFrame:
    import pandas as pd

    rows = [{"id": it.id, "prompt_id": it.prompt_id, "prompt": it.prompt, "system": it.system, "response": it.response,
             "model": it.model, "reference": it.reference} for it in items]
    return pd.DataFrame(rows, columns=list(ITEM_COLUMNS), dtype=object)


def _ratings_table(items: list[Item], slot: dict[int, int], raters: list, results: dict) -> pd.DataFrame:
    import pandas as pd

    rows = []
    for k, it in enumerate(items):
        for r in raters:
            o: Outcome = results[(r.name, slot[k])]
            rows.append({
                "id": it.id, "prompt_id": it.prompt_id, "prompt": it.prompt, "system": it.system, "response": it.response,
                "model": it.model, "reference": it.reference, "judge": r.name, "judge_family": r.family,
                "kind": "reward" if isinstance(r, RewardModel) else "llm", "score": o.rating.score,
                "aspects": dict(o.rating.aspects) or None, "raw": o.rating.raw, "error": o.rating.error,
                "latency_s": o.latency_s, "prompt_tokens": o.prompt_tokens, "completion_tokens": o.completion_tokens,
                "cost_usd": o.cost_usd, "cached": o.cached,
            })
    df = pd.DataFrame(rows, columns=list(RATING_COLUMNS), dtype=object)
    df["cached"] = df["cached"].astype(bool)
    return df


def _judge_meta(j: Judge, t: Template) -> dict[str, Any]:
    from prefjudge.secrets import redact_url

    return {"name": j.name, "kind": "llm", "model": j.model, "backend": j.backend, "family": j.family,
            "template": j.template, "template_sha256": t.sha256, "temperature": j.temperature,
            "base_url": redact_url(j.base_url)}


def _meta(t: Template, ref: str, raters: list[Judge], rms: list[RewardModel], rubric: str | None, seed: int,
          counts: dict[str, int], engine: Engine, items: list[Item]) -> dict[str, Any]:
    mixed = bool(rms) and len(raters) + len(rms) > 1
    return {
        "task": "rating", "template": ref, "template_sha256": t.sha256, "scale": list(t.scale or ()),
        "aspects": list(t.aspects), "marker": t.marker, "seed": seed,
        "judges": [_judge_meta(j, t) for j in raters] + [rm.meta() for rm in rms],
        "rubric_sha256": hashlib.sha256(rubric.encode()).hexdigest()[:16] if rubric else None,
        "references": any(it.reference is not None for it in items), "n_answers": len(items),
        "n_prompts": len({it.prompt_id for it in items}),
        "score": "mean of per-judge z-scores (judges on different scales)" if mixed else "mean over judges",
        "n_calls_made": engine.calls_made, "n_calls_cached": engine.calls_cached,
        "cost_usd": engine.cost_usd, **counts,
    }

