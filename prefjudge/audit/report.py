"""AuditReport: the audit's numbers, and their JSON, Markdown and HTML renderings.

Rendering is separate from statistics: every format is produced from :meth:`AuditReport.to_dict`,
so a report saved as JSON can be rendered again later (``AuditReport.from_dict``).
:class:`DictReport` is what every dict-backed report shares (this one and the probing layer's
``ProbeReport``, which sits above the audit and imports it from here).
"""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from prefjudge.stats.calibration import Calibrator

_R = TypeVar("_R", bound="DictReport")


def jsonable(v: Any) -> Any:
    """Plain Python types only: numpy scalars become int/float/bool, NaN and infinities None."""
    if isinstance(v, dict):
        return {str(k): jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [jsonable(x) for x in v]
    if hasattr(v, "item") and not isinstance(v, (str, bytes)):
        v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


class DictReport:
    """A report that is one JSON-compatible dict (made plain on the way in by :func:`jsonable`):
    ``from_dict``, the ``warnings`` and ``judges`` entries, ``to_dict``, ``to_json``, and
    :meth:`_save`, which the renderings of a subclass use to write their text to a file."""

    def __init__(self, data: dict[str, Any]):
        self._data = jsonable(data)

    @classmethod
    def from_dict(cls: type[_R], data: dict[str, Any]) -> _R:
        """Rebuild a report from :meth:`to_dict` output (e.g. a saved JSON file)."""
        return cls(data)

    @property
    def warnings(self) -> list[str]:
        return list(self._data.get("warnings", []))

    @property
    def judges(self) -> dict[str, dict]:
        return copy.deepcopy(self._data.get("judges", {}))

    def to_dict(self) -> dict[str, Any]:
        """A deep copy of the report as plain JSON-compatible Python objects."""
        return copy.deepcopy(self._data)

    def to_json(self, path: str | Path | None = None, *, indent: int = 2) -> str:
        """The report as JSON text; written to ``path`` too when given."""
        return self._save(path, self._json_text(self._data, indent))

    @staticmethod
    def _json_text(data: dict[str, Any], indent: int) -> str:
        return json.dumps(data, indent=indent, ensure_ascii=False, allow_nan=False)  # NaN is not JSON

    @staticmethod
    def _save(path: str | Path | None, text: str) -> str:
        """Write ``text`` to ``path`` (UTF-8, its folder made) when a path is given; return ``text``."""
        if path is not None:
            p = Path(path)
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text(text, encoding="utf-8")
        return text


class AuditReport(DictReport):
    """Bias and agreement statistics of one or more judges (see docs/audit.md).

    ``to_dict()`` layout: ``{"judges": {NAME: {...}}, "jury": {...}, "generators": {...},
    "warnings": [...], "contested": [...], "meta": {...}}``. Every rate is
    ``{"value", "ci": [lo, hi], "n", "reason"}``; value None comes with the reason.
    """

    def calibrator(self, judge: str | None = None, method: str = "temperature") -> Calibrator:
        """The recalibration map fitted on the human labels (docs/audit.md, "Calibration"): the
        jury's (``judge=None``, what ``to_preferences(calibration=...)`` applies to the margins of
        the same run) or one judge's; ``method`` "temperature" or "isotonic". Raises
        :class:`~prefjudge.errors.InputError` with the report's reason when there is none."""
        from prefjudge.errors import InputError
        from prefjudge.stats.calibration import METHODS, Calibrator

        if method not in METHODS:
            raise InputError(f"method must be 'temperature' or 'isotonic', not {method!r}", field="method")
        if judge is None:
            entry, who = self._data.get("jury", {}).get("calibration"), "the jury"
        elif judge in self._data.get("judges", {}):
            entry, who = self._data["judges"][judge].get("calibration"), f"judge {judge!r}"
        else:
            raise InputError(f"no judge {judge!r} in this report (judges: {', '.join(self._data.get('judges', {}))})",
                             field="judge")
        if not entry or not entry.get("n") or method not in (entry.get("recalibration") or {}):
            reason = (entry or {}).get("reason") or "this report has no calibration entry (made by an older version?)"
            raise InputError(f"no calibration fitted for {who}: {reason}", field="judge")
        return Calibrator.from_dict(entry["recalibration"][method])

    def to_markdown(self, path: str | Path | None = None) -> str:
        """Markdown tables for a README or a dataset card; written to ``path`` too when given."""
        from prefjudge.audit.render.markdown import render_markdown

        return self._save(path, render_markdown(self._data))

    def to_html(self, path: str | Path | None = None) -> str:
        """One self-contained HTML file (inline SVG plots, no JavaScript) from the packaged Jinja2 template
        ``prefjudge/audit/render/templates/report.html.j2``; written to ``path`` too when given."""
        from prefjudge.audit.render.html import render_html

        return self._save(path, render_html(self._data))

    def __repr__(self) -> str:
        m = self._data.get("meta", {})
        return (f"AuditReport({m.get('n_judges')} judge(s), {m.get('n_pairs')} pairs, {m.get('n_rows')} judgments, "
                f"{len(self._data.get('warnings', []))} warning(s))")

