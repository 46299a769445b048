"""Self-contained HTML rendering of an audit report, from the packaged Jinja2 template
``templates/report.html.j2``.

One file that opens offline: inline CSS, inline SVG plots, no JavaScript at all, and a
Content-Security-Policy (in the template) that forbids scripts. The template autoescapes: every
string from the data (judge and model names, prompts, answers, reasons) goes in as plain text and
shows as text, ``<script>`` included. :func:`html_context` only formats the report's values as
strings (the numbers are computed in :mod:`prefjudge.audit.build`); the only markup it hands over
is the plots' SVG, marked safe where it is made (see :func:`_plots`).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import jinja2
from markupsafe import Markup

from prefjudge.audit.render import plots
from prefjudge.audit.render.markdown import (
    CALIBRATION_HEAD,
    CALIBRATION_NOTE,
    JUDGE_COLUMNS,
    PROBE_NOTE,
    calibration_entries,
    calibration_row,
    fmt_num,
    fmt_rate,
    probe_rows,
)

TEMPLATE = "report.html.j2"


@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    """The report's Jinja2 environment: templates from the installed package, autoescape on, and
    StrictUndefined, so a value the template needs but the context lacks is an error, not a blank."""
    return jinja2.Environment(loader=jinja2.PackageLoader("prefjudge.audit.render", "templates"), autoescape=True,
                              undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
                              keep_trailing_newline=True)


def show(v: Any) -> str:
    """A value as display text (None shows as an en dash); not escaped, the template does that.

    >>> show(None), show(3), show("<b>")
    ('–', '3', '<b>')
    """
    return "–" if v is None else str(v)


def _judges(judges: dict) -> list[dict]:
    rows = []
    for name, e in judges.items():
        slope = e.get("length_slope") or {}
        rows.append({"name": show(name), "family": show(e.get("family")), "n": show(e.get("n")),
                     "parsed": fmt_num(e.get("parsed_rate")),
                     "rates": [fmt_rate(e.get(k), signed=(k == "self_preference")) for k, _ in JUDGE_COLUMNS],
                     "kappa": fmt_num(e.get("cohen_kappa")), "slope": fmt_num(slope.get("value")),
                     "cost": fmt_num((e.get("cost_usd") or {}).get("total"), 4)})
    return rows


def _not_computed(judges: dict) -> list[dict]:
    return [{"judge": show(name), "label": label, "reason": show(e[k]["reason"])} for name, e in judges.items()
            for k, label in JUDGE_COLUMNS if (e.get(k) or {}).get("value") is None and (e.get(k) or {}).get("reason")]


def _plots(data: dict) -> list[dict]:
    judges = data.get("judges", {})
    figures = [
        (plots.p_first_plot(judges), "plot-first", "First-position rate per judge with 95% CI (dashed: no bias)"),
        (plots.longer_plot(judges), "plot-longer", "Preference for the longer answer against the length ratio"),
        (plots.family_plot(judges), "plot-family", "Judge x generator family: preference for that family's answers vs the reference"),
        (plots.agreement_plot(data.get("jury", {})), "plot-agreement", "Judge agreement (Cohen's kappa)"),
    ]
    # Markup (not escaped by the template): each SVG is matplotlib's output for numbers and labels
    # drawn as glyph paths (svg.fonttype "path"), with matplotlib's text comments removed and ids
    # salted (plots._svg), so no string from the data is in its markup; the CSP forbids scripts anyway.
    return [{"id": fig_id, "caption": caption, "svg": None if svg is None else Markup(svg)}
            for svg, fig_id, caption in figures]


def _jury(jury: dict) -> dict:
    ag = jury.get("agreement") or {}
    return {"rule": show(jury.get("rule")), "pairs": show(jury.get("n")), "with_winner": show(jury.get("n_parsed")),
            "below_quorum": show(jury.get("below_quorum")),
            "mean_agreement": fmt_num((ag.get("mean_agreement") or {}).get("value")),
            "fleiss_kappa": fmt_num((ag.get("fleiss_kappa") or {}).get("value")),
            "consistency": fmt_rate(jury.get("consistency")), "p_longer": fmt_rate(jury.get("p_longer")),
            "p_lists": fmt_rate(jury.get("p_lists")), "human_agreement": fmt_rate(jury.get("human_agreement")),
            "cohen_kappa": fmt_num(jury.get("cohen_kappa")),
            "reliability": [{"judge": show(n), "weight": fmt_num(r.get("weight")), "accuracy": fmt_num(r.get("accuracy")),
                             "source": show(r.get("source")),
                             "measured": fmt_num(_check(jury, n).get("human_agreement")),
                             "n_labelled": show(_check(jury, n).get("n_labelled"))}
                            for n, r in (jury.get("judge_reliability") or {}).items()]}


def _check(jury: dict, name: str) -> dict:
    return next((r for r in jury.get("reliability_check") or [] if r.get("judge") == name), {})


def _calibration(data: dict) -> dict | None:
    """The calibration section (None: no soft verdict anywhere, no section); the reliability plot
    only when some entry was computed."""
    entries = calibration_entries(data)
    if not entries:
        return None
    done = [(label, c) for label, c in entries if c.get("n")]
    svg = plots.reliability_plot(done) if done else None
    return {"note": CALIBRATION_NOTE, "head": ["", *CALIBRATION_HEAD],
            "rows": [[show(label), *calibration_row(c)] for label, c in done],
            "bins": [{"label": show(label), "rows": [[f"{b['lo']:.1f}-{b['hi']:.1f}", show(b["n"]), fmt_num(b.get("mean_pred")),
                                                      fmt_num(b.get("frac_pos"))] for b in c.get("bins") or []]}
                     for label, c in done],
            "missing": [{"label": show(label), "reason": show(c.get("reason"))} for label, c in entries if not c.get("n")],
            # Markup: matplotlib's SVG with text as paths and comments removed (see _plots)
            "plot": None if svg is None else Markup(svg)}


def _human(human: dict) -> dict | None:
    if not human.get("n"):
        return None
    return {"p_longer": fmt_rate(human.get("p_longer")), "p_lists": fmt_rate(human.get("p_lists"))}


def _generators(gen: dict) -> dict:
    models = gen.get("models") or {}
    return {"reason": show(gen.get("reason")),
            "models": [{"name": show(n), "family": show(e.get("family")), "n": show(e.get("n")),
                        "win_rate": fmt_rate(e.get("win_rate")), "lc_win_rate": fmt_rate(e.get("lc_win_rate"))}
                       for n, e in models.items()]}


def _contested(cards: list[dict]) -> list[dict]:
    return [{"pair_id": show(c["pair_id"]), "agreement": fmt_num(c["agreement"]), "jury_winner": show(c["jury_winner"]),
             "human": show(c["human"]), "prompt": show(c["prompt"]),
             "calls": [{"judge": show(x["judge"]), "order": show(x["order"]), "winner": show(x["winner"])} for x in c["calls"]],
             "model_a": show(c["model_a"]), "response_a": show(c["response_a"]),
             "model_b": show(c["model_b"]), "response_b": show(c["response_b"])} for c in cards]


def html_context(data: dict) -> dict:
    """Everything the template shows, as display strings (plus the plots' SVG); missing report
    entries show as en dashes here, so the template itself can be strict."""
    m = data.get("meta", {})
    judges = data.get("judges", {})
    from prefjudge.simulated import headline

    return {
        "simulated": headline(data.get("simulated")),  # the banner atop the page (None: not simulated)
        "meta": {k: show(m.get(k)) for k in ("n_rows", "n_pairs", "n_judges", "kind")},
        "warnings": [show(w) for w in data.get("warnings", [])],
        "judge_columns": [label for _, label in JUDGE_COLUMNS],
        "judges": _judges(judges),
        "not_computed": _not_computed(judges),
        "plots": _plots(data),
        "jury": _jury(data.get("jury", {})),
        "human": _human(data.get("human") or {}),
        "calibration": _calibration(data),
        "probes": {"note": PROBE_NOTE, "rows": [[show(c) for c in r] for r in probe_rows(judges)]},
        "generators": _generators(data.get("generators", {})),
        "contested": _contested(data.get("contested", [])),
    }


def render_template(context: dict) -> str:
    """The template rendered with ``context`` (:func:`html_context`'s layout); a missing key raises
    :class:`jinja2.UndefinedError`."""
    return environment().get_template(TEMPLATE).render(context)


def render_html(data: dict) -> str:
    """The whole report (:meth:`prefjudge.audit.AuditReport.to_dict` layout) as one HTML document."""
    return render_template(html_context(data))
