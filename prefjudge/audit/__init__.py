"""The bias audit: position, length, list and family biases, consistency, agreement, human agreement.

>>> import prefjudge.audit as pa
>>> sorted(pa.__all__)
['AuditReport', 'audit', 'from_alpaca_eval', 'from_preference_dataset']

Importing this package is cheap; numpy, pandas and matplotlib load when :func:`audit` runs.
"""

from __future__ import annotations

import sys
import types
from typing import Any

from .report import AuditReport

__all__ = ["AuditReport", "audit", "from_alpaca_eval", "from_preference_dataset"]


def audit(
    data: Any,
    *,
    rule: Any = "majority",
    quorum: int | None = None,
    same_family: str = "keep",
    families: dict[str, str] | None = None,
    seed: int = 0,
    n_contested: int = 10,
) -> AuditReport:
    """Audit judges: a RankResult, a judgments table (DataFrame, Dataset, JSONL/parquet path),
    AlpacaEval annotations, or a plain prompt/chosen/rejected preference dataset.

    For a RankResult the jury entry uses its outcomes; otherwise the judges' verdicts are aggregated
    with ``rule``/``quorum``/``same_family`` (see :class:`prefjudge.Jury`). ``seed`` fixes the bootstrap.
    """
    from .build import audit_table
    from .importers import load_input

    inp = load_input(data, families)
    if inp.table.empty:
        from ..errors import InputError

        raise InputError("nothing to audit: the judgments table is empty")
    d = audit_table(inp.table, outcomes=inp.outcomes, meta=inp.meta, rule=rule, quorum=quorum, same_family=same_family,
                    families=families, seed=seed, n_contested=n_contested, kind=inp.kind)
    return AuditReport(d)


def from_alpaca_eval(data: Any, **kwargs: Any):
    """See :func:`prefjudge.audit.importers.from_alpaca_eval`."""
    from .importers import from_alpaca_eval as f

    return f(data, **kwargs)


def from_preference_dataset(data: Any):
    """See :func:`prefjudge.audit.importers.from_preference_dataset`."""
    from .importers import from_preference_dataset as f

    return f(data)


class _CallablePackage(types.ModuleType):
    """``prefjudge.audit`` is both this package and the public function ``pj.audit``: once the
    package is imported it takes the name on ``prefjudge``, so calling it runs :func:`audit`."""

    def __call__(self, *args: Any, **kwargs: Any) -> AuditReport:
        return audit(*args, **kwargs)


sys.modules[__name__].__class__ = _CallablePackage
