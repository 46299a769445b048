"""Juries: several judges, one verdict per pair.

>>> jury = Jury(["gpt-4o", "claude-3-5-haiku", "llama-3.1-8b"], aggregate="majority", quorum=2)
>>> jury.rule_name, jury.quorum
('majority', 2)

``Jury(judges, aggregate=..., quorum=..., same_family=..., weights=...)`` is what
``rank_pairs(pairs, judges=jury)`` takes: it asks ``jury.judges`` and aggregates with
``jury.aggregate_table``. :func:`aggregate` re-aggregates a recorded judgments table.
See docs/juries.md.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PlainValidator, PrivateAttr, ValidationError, model_validator

from prefjudge._renamed import renamed_kwargs
from prefjudge.errors import ConfigError, InputError
from prefjudge.types import OUTCOME_COLUMNS

if TYPE_CHECKING:
    import pandas as pd

    from prefjudge.result import RankResult

RuleName = Literal["majority", "call_majority", "mean", "weighted", "dawid_skene", "dawid_skene_order", "dawid_skene_semi",
                   "follow_best"]
SameFamily = Literal["exclude", "flag", "keep"]


def _judge_list(value: Any) -> list:
    if isinstance(value, tuple):
        value = list(value)
    if not isinstance(value, list) or not value:
        raise ValueError("judges must be a non-empty list")
    return value  # the same list object: judges pass through untouched


class Jury(BaseModel):
    """Several judges and the rule that turns their verdicts into one per pair.

    ``aggregate``: ``"majority"`` (each judge votes once, its calls in both orders combined, a split
    being a tie; then the most frequent vote among judges), ``"call_majority"`` (every call one
    vote), ``"mean"`` (mean p_a), ``"weighted"`` (judges weighted by estimated reliability, or by
    ``weights``), ``"dawid_skene"`` (EM over confusion matrices), ``"dawid_skene_order"`` (the same with a
    confusion matrix per display position, so position bias is modelled), ``"dawid_skene_semi"`` (that,
    anchored on the human labels present), ``"follow_best"`` (the judge estimated most accurate, the
    others deciding where it has no a/b vote) or a function
    ``judgments DataFrame -> outcomes DataFrame`` (see :func:`prefjudge.aggregation.frame.check_outcomes`).
    ``quorum``: fewest judges with a parsed verdict a pair needs (else winner None with a reason).
    ``same_family``: ``"exclude"`` drops a judge's verdicts on pairs its own family generated
    (either answer), ``"flag"`` marks such pairs, ``"keep"`` does nothing.
    ``weights``: judge name -> weight, for ``"weighted"`` and ``"mean"``.
    ``families``: name -> family overrides for judges and generators (see ``infer_family``).
    """

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)
    judges: Annotated[list, PlainValidator(_judge_list)]
    aggregate: RuleName | Callable[..., Any] = "majority"
    quorum: int | None = Field(None, ge=1)
    same_family: SameFamily = "keep"
    weights: dict[str, float] | None = None
    families: dict[str, str] | None = None
    _reliability: dict[str, dict[str, Any]] | None = PrivateAttr(default=None)

    def __init__(self, judges: Any = None, /, **data: Any) -> None:
        if judges is not None:
            data["judges"] = judges
        if "aggregate" in data:
            check_rule(data["aggregate"])
        try:
            super().__init__(**data)
        except ValidationError as exc:
            raise ConfigError(f"invalid Jury: {exc}") from exc

    @model_validator(mode="after")
    def _check(self) -> Jury:
        if self.weights is not None:
            if self.aggregate not in ("weighted", "mean"):
                raise ValueError(f"weights apply to aggregate='weighted' or 'mean', not {self.rule_name!r}")
            bad = {k: v for k, v in self.weights.items() if not v >= 0 or v == float("inf")}
            if bad:
                raise ValueError(f"weights must be finite and >= 0: {bad}")
        if self.quorum is not None and self.quorum > len(self.judges):
            raise ValueError(f"quorum {self.quorum} exceeds the number of judges ({len(self.judges)})")
        return self

    @property
    def rule_name(self) -> str:
        """The rule's name (a custom function's ``__name__``)."""
        return self.aggregate if isinstance(self.aggregate, str) else getattr(self.aggregate, "__name__", "custom")

    @property
    def reliability(self) -> dict[str, dict[str, Any]] | None:
        """Per judge weight/accuracy estimated by the last ``aggregate_table`` call ("weighted" and the Dawid-Skene rules)."""
        return self._reliability

    def aggregate_table(self, judgments: Any) -> pd.DataFrame:
        """Aggregate a judgments table into one outcome per pair (indexed by pair_id).

        Columns: winner, p_a, n_verdicts, n_failed, consistent, reason (the aggregator contract),
        agreement (share of voting judges who gave the most common vote), n_judges (judges with a
        parsed vote), flagged_same_family ("flag") or n_excluded_same_family ("exclude"), and
        posterior_a for the Dawid-Skene rules and "follow_best" (plus ``followed``; ``labelled`` for
        "dawid_skene_semi"). ``frame.attrs["judge_reliability"]`` holds the weights or estimated accuracies.
        """
        from prefjudge.aggregation.frame import aggregate_frame

        out, rel = aggregate_frame(self, normalize(judgments, self.families))
        self._reliability = rel
        return out


def check_rule(rule: Any) -> None:
    """Raise ConfigError unless ``rule`` is a rule name or a function."""
    from prefjudge.aggregation.rules import RULES

    valid = ", ".join(repr(r) for r in RULES)
    if isinstance(rule, str):
        if rule not in RULES:
            raise ConfigError(f"unknown aggregate rule {rule!r}; valid rules: {valid}, or a function judgments -> outcomes")
    elif not callable(rule):
        raise ConfigError(f"aggregate must be one of {valid} or a function judgments -> outcomes, not {type(rule).__name__}")


def normalize(judgments: Any, families: dict[str, str] | None = None) -> pd.DataFrame:
    """The normalized judgments table (see :func:`prefjudge.judgments.normalize_judgments`)."""
    from prefjudge.judgments import normalize_judgments

    return normalize_judgments(judgments, families=families)




@renamed_kwargs(rule="aggregate")
def aggregate(
    judgments: Any,
    aggregate: RuleName | Callable[..., Any] = "majority",
    *,
    quorum: int | None = None,
    same_family: SameFamily = "keep",
    weights: dict[str, float] | None = None,
    families: dict[str, str] | None = None,
) -> RankResult:
    """Re-aggregate a recorded judgments table (DataFrame, Dataset, JSONL/parquet path, RankResult).

    ``aggregate``: a name of :data:`prefjudge.aggregation.rules.RULES` or a function judgments -> outcomes,
    as for ``Jury(aggregate=...)`` and ``rank_pairs(aggregate=...)`` (``rule=`` is its deprecated old name).

    Returns a :class:`RankResult` whose ``pairs`` come from the first row of each pair_id (the
    human label: the first non-null one) and whose ``meta`` records the rule and judge reliabilities.
    """
    from prefjudge.result import RankResult

    table = normalize(judgments, families)
    if table.empty:
        raise InputError("the judgments table is empty")
    names = list(dict.fromkeys(table["judge"]))
    jury = Jury(names, aggregate=aggregate, quorum=quorum, same_family=same_family, weights=weights, families=families)
    outcomes = jury.aggregate_table(table)
    meta = {"aggregate": jury.rule_name, "quorum": quorum, "same_family": same_family, "judges": [{"name": n} for n in names],
            "judge_reliability": jury.reliability, "source": "prefjudge.aggregate", "n_pairs": len(outcomes)}
    return RankResult(pairs=pairs_from_table(table), judgments=table, outcomes=outcomes, meta=meta)


def pairs_from_table(table: pd.DataFrame) -> pd.DataFrame:
    """One row per pair_id: the first row's prompt, responses and models; the first non-null human label."""
    import pandas as pd

    first = table.drop_duplicates("pair_id", keep="first").set_index("pair_id")
    human = table.dropna(subset=["human"]).drop_duplicates("pair_id").set_index("pair_id")["human"].reindex(first.index)
    return pd.DataFrame({
        "id": first.index.astype(str), "prompt": first["prompt"].to_numpy(), "response_a": first["response_a"].to_numpy(),
        "response_b": first["response_b"].to_numpy(), "system": None, "model_a": first["model_a"].to_numpy(),
        "model_b": first["model_b"].to_numpy(), "human": human.astype(object).where(human.notna(), None).to_numpy(),
        "identical": False,
    })


def majority(judgments: Any) -> pd.DataFrame:
    """The ``"majority"`` rule on a judgments table: ``Jury(<its judges>).aggregate_table(judgments)``.

    Each judge votes once per pair (its calls in both orders combined, a split being a tie), then
    the most frequent vote among the judges wins (a split is a tie). For every call as one vote use
    ``aggregate(judgments, "call_majority")``.
    """
    import pandas as pd

    table = normalize(judgments)
    if table.empty:
        return pd.DataFrame(columns=list(OUTCOME_COLUMNS)).rename_axis("pair_id")
    return Jury(list(dict.fromkeys(table["judge"]))).aggregate_table(table)
