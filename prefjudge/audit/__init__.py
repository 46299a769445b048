"""The bias audit: position, length, list and family biases, consistency, agreement, human agreement.

>>> from prefjudge.audit import __all__
>>> sorted(__all__)
['AuditReport', 'audit', 'from_alpaca_eval', 'from_preference_dataset']

``prefjudge.audit`` the attribute is the function :func:`audit` (``pj.audit(result)``); this
package is reached by importing from it (``from prefjudge.audit import AuditReport``,
``import prefjudge.stats.intervals``). ``import prefjudge`` imports this package first, so a later
``import prefjudge.audit`` does not rebind ``prefjudge.audit`` to the package.

Importing this package is cheap; numpy, pandas and matplotlib load when :func:`audit` runs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from prefjudge._renamed import renamed_kwargs
from prefjudge.audit.report import AuditReport

if TYPE_CHECKING:
    import pandas as pd

    from prefjudge.aggregation.jury import RuleName, SameFamily
    from prefjudge.probing.report import ProbeReport

__all__ = ["AuditReport", "audit", "from_alpaca_eval", "from_preference_dataset"]


@renamed_kwargs(rule="aggregate")
def audit(
    data: Any,
    *,
    aggregate: RuleName | Callable[..., Any] = "majority",
    quorum: int | None = None,
    same_family: SameFamily = "keep",
    families: dict[str, str] | None = None,
    seed: int = 0,
    n_contested: int = 10,
    probes: ProbeReport | dict | None = None,
) -> AuditReport:
    """Audit judges: a RankResult, a judgments table (DataFrame, Dataset, JSONL/parquet path),
    AlpacaEval annotations, or a plain prompt/chosen/rejected preference dataset.

    For a RankResult the jury entry uses its outcomes; otherwise the judges' verdicts are aggregated
    with ``aggregate``/``quorum``/``same_family`` (see :class:`prefjudge.Jury`; ``rule=`` is the
    deprecated old name of ``aggregate=``). ``seed`` fixes the bootstrap. ``probes``: a
    :class:`prefjudge.ProbeReport` (or its ``to_dict()``) whose causal effects are shown beside each
    judge's observational statistics, and which the warnings quote (docs/audit.md).
    """
    from prefjudge.audit.build import audit_table
    from prefjudge.audit.importers import load_input

    inp = load_input(data, families)
    if inp.table.empty:
        from prefjudge.errors import InputError

        raise InputError("nothing to audit: the judgments table is empty")
    d = audit_table(inp.table, outcomes=inp.outcomes, meta=inp.meta, rule=aggregate, quorum=quorum,
                    same_family=same_family, families=families, seed=seed, n_contested=n_contested, kind=inp.kind,
                    probes=probes)
    return AuditReport(d)


def from_alpaca_eval(data: Any, *, judge: str = "alpaca_eval", human_annotator: str | None = None) -> pd.DataFrame:
    """See :func:`prefjudge.audit.importers.from_alpaca_eval`."""
    from prefjudge.audit.importers import from_alpaca_eval as f

    return f(data, judge=judge, human_annotator=human_annotator)


def from_preference_dataset(data: Any) -> pd.DataFrame:
    """See :func:`prefjudge.audit.importers.from_preference_dataset`."""
    from prefjudge.audit.importers import from_preference_dataset as f

    return f(data)
