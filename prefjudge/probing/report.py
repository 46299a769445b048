"""ProbeReport: the probes' effects per judge, and their JSON, Markdown and HTML renderings.

Every format is produced from :meth:`ProbeReport.to_dict`, so a report saved as JSON renders again
(``ProbeReport.from_dict``). ``to_dict(variants=False)`` is the compact form meant to sit beside the
observational statistics of an audit report.
"""

from __future__ import annotations

import copy
import html
from pathlib import Path
from typing import Any

from prefjudge.audit.report import DictReport

#: How each probe's direction reads in words: (what was done, what "toward" means).
_WORDS = {
    "swap": ("swapping the display order", "the answer shown first"),
    "pad": ("padding an answer with content-free filler", "the padded answer"),
    "lists": ("reformatting an answer's sentences as a list", "the listed answer"),
    "injection": ("appending an instruction to the judge to an answer", "that answer"),
    "identity": ("naming an answer's author as the judge's own family", "that answer"),
}


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.0f}%"


def _signed(x: float | None) -> str:
    return "n/a" if x is None else f"{x:+.2f}"


def _ci(ci: list | tuple | None, fmt=_signed) -> str:
    if not ci or ci[0] is None or ci[1] is None:
        return "n/a"
    return f"{fmt(ci[0])} to {fmt(ci[1])}"


def summary_for(probe: str, entry: dict[str, Any]) -> str:
    """One sentence on one judge's probe, whether or not it moved (the ``summary`` of every entry,
    which an audit can quote beside its observational statistic without importing this layer)."""
    e = entry.get("effect") or {}
    value, ci, n = e.get("value"), e.get("ci") or [None, None], e.get("n")
    if value is None:
        return f"{probe}: no estimate ({e.get('reason')})"
    if probe == "repeat":
        return (f"the same request sent again changed {_pct(value)} of the verdicts (95% CI {_ci(ci, _pct)}, n={n})"
                + ("" if entry.get("detected") else ": consistent within the CI"))
    done, toward = _WORDS[probe]
    numbers = f"effect {_signed(value)} (share of verdicts moved toward minus away, 95% CI {_ci(ci)}, n={n})"
    if not entry.get("detected"):
        return f"{done} did not move this judge: {numbers}"
    if probe == "swap":
        toward, direction = ("the answer shown first" if value > 0 else "the answer shown second"), "toward"
    else:
        direction = "toward" if value > 0 else "away from"
    return f"{done} moved this judge {direction} {toward}: {numbers}"


def warning_for(judge: str, probe: str, entry: dict[str, Any]) -> str | None:
    """The plain-words warning of one (judge, probe) whose CI excludes 0, else None."""
    if (entry.get("effect") or {}).get("value") is None or not entry.get("detected"):
        return None
    text = summary_for(probe, entry)
    if probe == "repeat":
        return f"judge {judge}: {text}; its verdicts are not self-consistent"
    return f"judge {judge}: {text}; the content did not change"


class ProbeReport(DictReport):
    """Counterfactual probe effects per judge (see docs/audit.md, "Counterfactual probes").

    ``to_dict()`` layout: ``{"judges": {NAME: {"family", "probes": {PROBE: {"metric", "effect":
    {"value", "ci": [lo, hi], "n", "reason"}, "toward", "away", "n_pairs", "n_failed",
    "n_skipped", "detected", "summary", "arms"?}}}}, "warnings": [...], "meta": {...},
    "variants": [...]}``.
    """

    @classmethod
    def build(cls, judges: dict[str, dict], variants: list[dict], meta: dict) -> ProbeReport:
        for j in judges.values():
            for probe, entry in j["probes"].items():
                entry["summary"] = summary_for(probe, entry)
        warnings = [w for name, j in judges.items() for probe, entry in j["probes"].items()
                    if (w := warning_for(name, probe, entry)) is not None]
        return cls({"judges": judges, "warnings": warnings, "meta": meta, "variants": variants})

    @property
    def variants(self) -> list[dict]:
        """Every request judged: judge, pair_id, tag (``orig``, ``pad-b``, ``inject-a``...), display
        order, the two answers in a/b terms as judged, and the verdict (a/b/tie, None when failed)."""
        return copy.deepcopy(self._data.get("variants", []))

    def effect(self, judge: str, probe: str) -> dict[str, Any] | None:
        """The entry of one judge and probe (``{"metric", "effect": {...}, "detected", ...}``), or None."""
        entry = self._data.get("judges", {}).get(judge, {}).get("probes", {}).get(probe)
        return copy.deepcopy(entry)

    def to_dict(self, variants: bool = True) -> dict[str, Any]:
        """A deep copy as plain JSON-compatible objects; ``variants=False`` leaves out the texts."""
        data = copy.deepcopy(self._data)
        if not variants:
            data.pop("variants", None)
        return data

    def to_json(self, path: str | Path | None = None, *, variants: bool = True, indent: int = 2) -> str:
        """The report as JSON text; written to ``path`` too when given."""
        return self._save(path, self._json_text(self.to_dict(variants=variants), indent))

    def rows(self) -> list[dict[str, Any]]:
        """One row per (judge, probe, arm): the table the Markdown and HTML show."""
        out = []
        for name, j in self._data.get("judges", {}).items():
            for probe, entry in j.get("probes", {}).items():
                e = entry.get("effect") or {}
                out.append({"judge": name, "probe": probe, "arm": "", "metric": entry.get("metric"),
                            "value": e.get("value"), "ci": e.get("ci"), "n": e.get("n"), "reason": e.get("reason"),
                            "toward": entry.get("toward"), "away": entry.get("away"),
                            "detected": entry.get("detected")})
                for arm, a in (entry.get("arms") or {}).items():
                    out.append({"judge": name, "probe": probe, "arm": arm, "metric": entry.get("metric"),
                                "value": a.get("value"), "ci": a.get("ci"), "n": a.get("n"),
                                "reason": a.get("reason"), "toward": a.get("toward"), "away": a.get("away"),
                                "detected": None})
        return out

    def to_markdown(self, path: str | Path | None = None) -> str:
        """Markdown: the effects table, the warnings and what each probe compares."""
        m = self._data.get("meta", {})
        lines = ["# Counterfactual probes", "",
                 f"{m.get('n_pairs')} pairs, seed {m.get('seed')}, {len(self._data.get('judges', {}))} judge(s); "
                 "effect = share of verdicts that moved toward the edited answer minus the share that moved away "
                 "(repeat: share of verdicts that changed), 95% paired bootstrap CI over pairs.", "",
                 "| judge | probe | arm | effect | 95% CI | n | toward | away | moved |",
                 "|---|---|---|---|---|---|---|---|---|"]
        for r in self.rows():
            fmt = _pct if r["metric"] == "flip_rate" else _signed
            value = fmt(r["value"]) if r["value"] is not None else f"n/a ({r['reason']})"
            moved = "" if r["detected"] is None else ("yes" if r["detected"] else "no")
            lines.append(f"| {_md(r['judge'])} | {r['probe']} | {r['arm']} | {value} | {_ci(r['ci'], fmt)} | {r['n']} "
                         f"| {_pct(r['toward'])} | {_pct(r['away'])} | {moved} |")
        lines += ["", "## Warnings", ""]
        lines += [f"- {_md(w)}" for w in self.warnings] or ["None: no probe's CI excludes 0."]
        lines += ["", "## What each probe compares", ""]
        lines += [f"- **{p}**: {text}" for p, text in (m.get("measures") or {}).items()]
        return self._save(path, "\n".join(lines) + "\n")

    def to_html(self, path: str | Path | None = None) -> str:
        """One self-contained HTML file (inline CSS and SVG, no JavaScript); written to ``path`` too."""
        m = self._data.get("meta", {})
        esc = html.escape
        rows = []
        for r in self.rows():
            fmt = _pct if r["metric"] == "flip_rate" else _signed
            value = fmt(r["value"]) if r["value"] is not None else f"n/a ({r['reason']})"
            flag = "" if r["detected"] is None else ("moved" if r["detected"] else "no")
            cls = ' class="moved"' if r["detected"] else ""
            rows.append(f"<tr{cls}><td>{esc(r['judge'])}</td><td>{esc(r['probe'])}</td><td>{esc(r['arm'])}</td>"
                        f"<td>{esc(value)}</td><td>{esc(_ci(r['ci'], fmt))}</td><td>{r['n']}</td>"
                        f"<td>{_pct(r['toward'])}</td><td>{_pct(r['away'])}</td><td>{flag}</td>"
                        f"<td>{_bar(r['value'], r['ci'])}</td></tr>")
        warnings = "".join(f"<li>{esc(w)}</li>" for w in self.warnings) or "<li>None: no probe's CI excludes 0.</li>"
        measures = "".join(f"<li><b>{esc(p)}</b>: {esc(t)}</li>" for p, t in (m.get("measures") or {}).items())
        text = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<title>Counterfactual probes</title>
<style>body{{font-family:system-ui,sans-serif;max-width:70em;margin:2em auto;color:#222}}
table{{border-collapse:collapse}}td,th{{border-bottom:1px solid #ddd;padding:.25em .6em;text-align:left}}
tr.moved td{{background:#fff3e0}}svg{{vertical-align:middle}}</style></head><body>
<h1>Counterfactual probes</h1>
<p>{esc(str(m.get('n_pairs')))} pairs, seed {esc(str(m.get('seed')))}. Effect = share of verdicts that moved toward
the edited answer minus the share that moved away (repeat: share of verdicts that changed), with a 95% paired
bootstrap CI over pairs. The bar spans -1 to +1; the line marks 0.</p>
<table><thead><tr><th>judge</th><th>probe</th><th>arm</th><th>effect</th><th>95% CI</th><th>n</th><th>toward</th>
<th>away</th><th>moved</th><th>-1 &hellip; +1</th></tr></thead><tbody>
{''.join(rows)}
</tbody></table>
<h2>Warnings</h2><ul>{warnings}</ul>
<h2>What each probe compares</h2><ul>{measures}</ul>
</body></html>
"""
        return self._save(path, text)

    def __repr__(self) -> str:
        m = self._data.get("meta", {})
        return (f"ProbeReport({len(self._data.get('judges', {}))} judge(s), {m.get('n_pairs')} pairs, "
                f"probes {', '.join(m.get('probes') or [])}, {len(self.warnings)} warning(s))")


def _md(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _bar(value: float | None, ci: list | None, width: int = 160, height: int = 14) -> str:
    """An inline SVG: the CI as a bar and the value as a dot on a [-1, 1] axis."""
    def x(v: float) -> float:
        return round((max(-1.0, min(1.0, v)) + 1) / 2 * width, 1)

    parts = [f'<svg width="{width}" height="{height}" role="img">',
             f'<line x1="{x(0)}" y1="0" x2="{x(0)}" y2="{height}" stroke="#999"/>']
    if ci and ci[0] is not None and ci[1] is not None:
        parts.append(f'<line x1="{x(ci[0])}" y1="{height / 2}" x2="{x(ci[1])}" y2="{height / 2}" '
                     'stroke="#1f77b4" stroke-width="3"/>')
    if value is not None:
        parts.append(f'<circle cx="{x(value)}" cy="{height / 2}" r="3.5" fill="#d62728"/>')
    return "".join(parts) + "</svg>"

