"""Markdown rendering of an audit report (for READMEs and dataset cards). Data strings are escaped."""

from __future__ import annotations

import html
from typing import Any

JUDGE_COLUMNS = (
    ("p_first", "P(first)"), ("consistency", "consistency"), ("p_longer", "P(longer)"), ("p_lists", "P(lists)"),
    ("self_preference", "self-preference"), ("human_agreement", "human agreement"),
)


def md(text: Any) -> str:
    """Escape a data string for a Markdown table cell (HTML, pipes, backticks, newlines).

    >>> md("<script>|x`")
    '&lt;script&gt;\\\\|x\\\\`'
    """
    s = html.escape(str(text), quote=False)
    return s.replace("|", "\\|").replace("`", "\\`").replace("\r", " ").replace("\n", " ")


def fmt_rate(e: dict | None, signed: bool = False) -> str:
    """``71% (66-75%, n=400)``, a signed points value for differences, or ``–`` when not computed."""
    if not e or e.get("value") is None:
        return "–"
    if signed:
        lo, hi = e["ci"]
        return f"{e['value'] * 100:+.0f} pts ({lo * 100:+.0f} to {hi * 100:+.0f}, n={e['n']})"
    lo, hi = e["ci"]
    return f"{e['value'] * 100:.0f}% ({lo * 100:.0f}-{hi * 100:.0f}%, n={e['n']})"


def fmt_num(v: Any, digits: int = 2) -> str:
    return "–" if v is None else f"{v:.{digits}f}"


def _judge_rows(judges: dict) -> list[str]:
    head = ["judge", "family", "n", "parsed"] + [label for _, label in JUDGE_COLUMNS] + ["Cohen's κ", "length slope"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, e in judges.items():
        cells = [md(name), md(e.get("family")), str(e.get("n")), fmt_num(e.get("parsed_rate"))]
        cells += [fmt_rate(e.get(k), signed=(k == "self_preference")) for k, _ in JUDGE_COLUMNS]
        slope = e.get("length_slope") or {}
        cells += [fmt_num(e.get("cohen_kappa")), "–" if slope.get("value") is None else
                  f"{slope['value']:+.2f} ({slope['ci'][0]:+.2f} to {slope['ci'][1]:+.2f})"]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _jury_lines(jury: dict) -> list[str]:
    ag = jury.get("agreement", {})
    lines = [f"Rule: `{md(jury.get('rule'))}` over {jury.get('n_judges')} judge(s), {jury.get('n')} pairs, "
             f"{jury.get('n_parsed')} with a winner ({jury.get('below_quorum', 0)} below quorum).", "",
             f"- Mean per-pair agreement: {fmt_num((ag.get('mean_agreement') or {}).get('value'))}",
             f"- Fleiss' kappa: {fmt_num((ag.get('fleiss_kappa') or {}).get('value'))}",
             f"- Human agreement: {fmt_rate(jury.get('human_agreement'))}; Cohen's kappa {fmt_num(jury.get('cohen_kappa'))}",
             f"- P(longer): {fmt_rate(jury.get('p_longer'))}; P(lists): {fmt_rate(jury.get('p_lists'))}"]
    for name, r in (jury.get("judge_reliability") or {}).items():
        lines.append(f"- Reliability of {md(name)}: weight {fmt_num(r.get('weight'))}, "
                     f"estimated accuracy {fmt_num(r.get('accuracy'))} ({md(r.get('source'))})")
    return lines


def _generator_lines(gen: dict) -> list[str]:
    models = gen.get("models") or {}
    if not models:
        return [f"Not computed: {md(gen.get('reason'))}."]
    lines = ["| model | family | n | win rate | length-controlled win rate |", "|---|---|---|---|---|"]
    for name, e in sorted(models.items(), key=lambda kv: -((kv[1].get("lc_win_rate") or {}).get("value") or 0)):
        lines.append(f"| {md(name)} | {md(e.get('family'))} | {e.get('n')} | {fmt_rate(e.get('win_rate'))} | {fmt_rate(e.get('lc_win_rate'))} |")
    return lines


def _reasons(judges: dict) -> list[str]:
    out = []
    for name, e in judges.items():
        for key, label in JUDGE_COLUMNS:
            r = (e.get(key) or {}).get("reason")
            if r and (e.get(key) or {}).get("value") is None:
                out.append(f"- {md(name)}, {label}: {md(r)}")
    return out


def render_markdown(data: dict) -> str:
    """The whole report as Markdown."""
    m = data.get("meta", {})
    parts = ["# Judge audit", "",
             f"{m.get('n_rows')} judgments of {m.get('n_pairs')} pairs by {m.get('n_judges')} judge(s) (source: {md(m.get('kind'))}). "
             "Rates show the 95% CI and the count they rest on.", "", "## Warnings", ""]
    parts += [f"- {md(w)}" for w in data.get("warnings", [])] or ["No significant bias found."]
    parts += ["", "## Judges", ""] + _judge_rows(data.get("judges", {}))
    parts += ["", "## Jury", ""] + _jury_lines(data.get("jury", {}))
    human = data.get("human") or {}
    if human.get("n"):
        parts.append(f"- Human labels ({human['n']} pairs): P(longer) {fmt_rate(human.get('p_longer'))}; "
                     f"P(lists) {fmt_rate(human.get('p_lists'))} (what an unbiased judge would match)")
    parts += ["", "## Generators", ""] + _generator_lines(data.get("generators", {}))
    reasons = _reasons(data.get("judges", {}))
    if reasons:
        parts += ["", "## Not computed", ""] + reasons
    return "\n".join(parts) + "\n"
