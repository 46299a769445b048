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
    check = {r["judge"]: r for r in jury.get("reliability_check") or []}
    for name, r in (jury.get("judge_reliability") or {}).items():
        c = check.get(name) or {}
        measured = (f"; measured agreement with the human labels {fmt_num(c.get('human_agreement'))} "
                    f"(n={c.get('n_labelled')})" if c.get("n_labelled") else "")
        lines.append(f"- Reliability of {md(name)}: weight {fmt_num(r.get('weight'))}, "
                     f"estimated accuracy {fmt_num(r.get('accuracy'))} ({md(r.get('source'))}){measured}")
    return lines


def probe_rows(judges: dict) -> list[list[str]]:
    """judge, probe, effect, 95% CI, n, moved: one row per judge and probe (empty without probes)."""
    rows = []
    for name, e in judges.items():
        for probe, p in (e.get("probes") or {}).items():
            eff = p.get("effect") or {}
            ci = eff.get("ci")
            rows.append([name, probe, fmt_num(eff.get("value")), "-" if not ci else f"{ci[0]:+.2f} to {ci[1]:+.2f}",
                         str(eff.get("n") if eff.get("n") is not None else "-"),
                         "yes" if p.get("detected") else "no"])
    return rows


PROBE_NOTE = ("Counterfactual probes: each edits one answer without changing its content (or swaps the display "
              "order) and judges original and variant; effect = share of verdicts that moved toward the edited "
              "answer minus the share that moved away (repeat: share that changed), 95% paired bootstrap CI. "
              "Unlike the observational rates above, a probe effect is causal by construction (docs/audit.md).")


def _generator_lines(gen: dict) -> list[str]:
    models = gen.get("models") or {}
    if not models:
        return [f"Not computed: {md(gen.get('reason'))}."]
    lines = ["| model | family | n | win rate | length-controlled win rate |", "|---|---|---|---|---|"]
    for name, e in sorted(models.items(), key=lambda kv: -((kv[1].get("lc_win_rate") or {}).get("value") or 0)):
        lines.append(f"| {md(name)} | {md(e.get('family'))} | {e.get('n')} | {fmt_rate(e.get('win_rate'))} | {fmt_rate(e.get('lc_win_rate'))} |")
    return lines


def calibration_entries(data: dict) -> list[tuple[str, dict]]:
    """(label, calibration entry) of each judge and of the jury; empty when no verdict anywhere is
    soft (then the renderings have no calibration section; the dict still says why per entry)."""
    entries = [(f"judge {name}", e.get("calibration") or {}) for name, e in data.get("judges", {}).items()]
    jury = data.get("jury") or {}
    entries.append((f"jury ({jury.get('rule')})", jury.get("calibration") or {}))
    return entries if any(c.get("n_soft") for _, c in entries) else []


def calibration_row(c: dict) -> list[str]:
    """unit, n, Brier, ECE, calibrated bound, temperature, cross-fitted ECE after each recalibration."""
    fits = c.get("recalibration") or {}
    t, iso = fits.get("temperature") or {}, fits.get("isotonic") or {}
    temp = "–" if not t else "∞" if t.get("temperature") is None else fmt_num(t["temperature"])
    return [str(c.get("unit", "–")), str(c.get("n", 0)), fmt_num(c.get("brier"), 3), fmt_num(c.get("ece"), 3),
            fmt_num(c.get("ece_calibrated_95"), 3), temp, fmt_num(t.get("ece_cv"), 3), fmt_num(iso.get("ece_cv"), 3)]


CALIBRATION_HEAD = ["unit", "n", "Brier", "ECE", "ECE if calibrated (95%)", "temperature", "ECE after temperature (CV)",
                    "ECE after isotonic (CV)"]
CALIBRATION_NOTE = ("Soft verdicts (p_a) against the human labels, a gold tie counting 0.5; ECE over 10 equal-width bins. "
                    "\"ECE if calibrated\": what a perfectly calibrated judge would stay below with the same predictions (95%). "
                    "Recalibration maps are fitted on all labelled verdicts; the ECE after them is 5-fold cross-fitted.")


def _calibration_lines(data: dict) -> list[str]:
    entries = calibration_entries(data)
    done = [(label, c) for label, c in entries if c.get("n")]
    lines = [CALIBRATION_NOTE, ""]
    if done:
        head = ["", *CALIBRATION_HEAD]
        lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        lines += ["| " + " | ".join([md(label), *calibration_row(c)]) + " |" for label, c in done]
    for label, c in done:
        lines += ["", f"Reliability of {md(label)}:", "", "| bin | n | mean predicted | share won by a |", "|---|---|---|---|"]
        lines += [f"| {b['lo']:.1f}-{b['hi']:.1f} | {b['n']} | {fmt_num(b.get('mean_pred'))} | {fmt_num(b.get('frac_pos'))} |"
                  for b in c.get("bins") or []]
    missing = [f"- {md(label)}: {md(c.get('reason'))}" for label, c in entries if not c.get("n")]
    if missing:
        lines += ["", "Not computed:", "", *missing]
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
    from prefjudge.simulated import headline

    m = data.get("meta", {})
    sim = headline(data.get("simulated"))
    parts = ["# Judge audit", "", *([f"> **{md(sim)}**", ""] if sim else []),
             f"{m.get('n_rows')} judgments of {m.get('n_pairs')} pairs by {m.get('n_judges')} judge(s) (source: {md(m.get('kind'))}). "
             "Rates show the 95% CI and the count they rest on.", "", "## Warnings", ""]
    parts += [f"- {md(w)}" for w in data.get("warnings", [])] or ["No significant bias found."]
    parts += ["", "## Judges", ""] + _judge_rows(data.get("judges", {}))
    parts += ["", "## Jury", ""] + _jury_lines(data.get("jury", {}))
    human = data.get("human") or {}
    if human.get("n"):
        parts.append(f"- Human labels ({human['n']} pairs): P(longer) {fmt_rate(human.get('p_longer'))}; "
                     f"P(lists) {fmt_rate(human.get('p_lists'))} (what an unbiased judge would match)")
    probes = probe_rows(data.get("judges", {}))
    if probes:
        parts += ["", "## Counterfactual probes", "", PROBE_NOTE, "", "| judge | probe | effect | 95% CI | n | moved |",
                  "|---|---|---|---|---|---|"] + ["| " + " | ".join(md(c) for c in r) + " |" for r in probes]
    if calibration_entries(data):
        parts += ["", "## Calibration", ""] + _calibration_lines(data)
    parts += ["", "## Generators", ""] + _generator_lines(data.get("generators", {}))
    reasons = _reasons(data.get("judges", {}))
    if reasons:
        parts += ["", "## Not computed", ""] + reasons
    return "\n".join(parts) + "\n"
