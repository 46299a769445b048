"""Self-contained HTML rendering of an audit report.

One file that opens offline: inline CSS, inline SVG plots, no JavaScript at all, and a
Content-Security-Policy that forbids scripts. Every string from the data goes through
:func:`esc` (prompts and responses show as text, ``<script>`` included).
"""

from __future__ import annotations

import html
from typing import Any

from prefjudge.audit.render import plots
from prefjudge.audit.render.markdown import JUDGE_COLUMNS, fmt_num, fmt_rate

CSP = ("default-src 'none'; script-src 'none'; object-src 'none'; style-src 'unsafe-inline'; "
       "img-src data:; font-src 'none'; connect-src 'none'; base-uri 'none'; form-action 'none'")
STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:2rem auto;max-width:1100px;color:#222;padding:0 1rem}
table{border-collapse:collapse;margin:.5rem 0 1.5rem;font-size:.88rem}
th,td{border:1px solid #ccc;padding:.3rem .5rem;text-align:left;vertical-align:top}
th{background:#f3f3f3}
.warn li{color:#8a3b00;margin:.25rem 0}
figure{margin:1rem 0 2rem}
figure svg{max-width:100%;height:auto}
figcaption{font-size:.85rem;color:#555}
pre{white-space:pre-wrap;word-break:break-word;background:#f7f7f7;padding:.5rem;max-height:16rem;overflow:auto}
details{margin:.5rem 0;border:1px solid #ddd;padding:.3rem .6rem}
.muted{color:#777}
.scroll{overflow-x:auto}
"""


def esc(v: Any) -> str:
    """HTML-escape any value (None shows as an en dash).

    >>> esc("<script>alert(1)</script>")
    '&lt;script&gt;alert(1)&lt;/script&gt;'
    """
    return "–" if v is None else html.escape(str(v), quote=True)


def _table(head: list[str], rows: list[list[str]]) -> str:
    """An HTML table; ``head`` and ``rows`` cells must already be escaped."""
    th = "".join(f"<th>{h}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in rows)
    return f'<div class="scroll"><table><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table></div>'


def _judges_section(judges: dict) -> str:
    head = ["judge", "family", "n", "parsed"] + [esc(lbl) for _, lbl in JUDGE_COLUMNS] + ["Cohen's κ", "length slope", "cost (USD)"]
    rows = []
    for name, e in judges.items():
        slope = e.get("length_slope") or {}
        cost = (e.get("cost_usd") or {}).get("total")
        rows.append([esc(name), esc(e.get("family")), esc(e.get("n")), esc(fmt_num(e.get("parsed_rate")))]
                    + [esc(fmt_rate(e.get(k), signed=(k == "self_preference"))) for k, _ in JUDGE_COLUMNS]
                    + [esc(fmt_num(e.get("cohen_kappa"))), esc(fmt_num(slope.get("value"))), esc(fmt_num(cost, 4))])
    return "<h2>Judges</h2>" + _table(head, rows) + _reasons(judges)


def _reasons(judges: dict) -> str:
    items = [f"<li>{esc(name)}, {esc(lbl)}: {esc(e[k]['reason'])}</li>" for name, e in judges.items()
             for k, lbl in JUDGE_COLUMNS if (e.get(k) or {}).get("value") is None and (e.get(k) or {}).get("reason")]
    return f"<details><summary>Not computed ({len(items)})</summary><ul>{''.join(items)}</ul></details>" if items else ""


def _figure(svg: str | None, fig_id: str, caption: str) -> str:
    if svg is None:
        return f'<p class="muted" id="{fig_id}">{esc(caption)}: not enough data for this plot.</p>'
    return f'<figure id="{fig_id}" class="plot">{svg}<figcaption>{esc(caption)}</figcaption></figure>'


def _plots_section(data: dict) -> str:
    judges = data.get("judges", {})
    return "<h2>Plots</h2>" + "".join([
        _figure(plots.p_first_plot(judges), "plot-first", "First-position rate per judge with 95% CI (dashed: no bias)"),
        _figure(plots.longer_plot(judges), "plot-longer", "Preference for the longer answer against the length ratio"),
        _figure(plots.family_plot(judges), "plot-family", "Judge x generator family: preference for that family's answers vs the reference"),
        _figure(plots.agreement_plot(data.get("jury", {})), "plot-agreement", "Judge agreement (Cohen's kappa)"),
    ])


def _jury_section(jury: dict, human: dict) -> str:
    ag = jury.get("agreement") or {}
    rows = [["rule", esc(jury.get("rule"))], ["pairs", esc(jury.get("n"))], ["with a winner", esc(jury.get("n_parsed"))],
            ["below quorum", esc(jury.get("below_quorum"))],
            ["mean per-pair agreement", esc(fmt_num((ag.get("mean_agreement") or {}).get("value")))],
            ["Fleiss' kappa", esc(fmt_num((ag.get("fleiss_kappa") or {}).get("value")))],
            ["consistency", esc(fmt_rate(jury.get("consistency")))], ["P(longer)", esc(fmt_rate(jury.get("p_longer")))],
            ["P(lists)", esc(fmt_rate(jury.get("p_lists")))], ["human agreement", esc(fmt_rate(jury.get("human_agreement")))],
            ["Cohen's kappa vs human", esc(fmt_num(jury.get("cohen_kappa")))]]
    if human.get("n"):
        rows += [["human labels: P(longer)", esc(fmt_rate(human.get("p_longer")))],
                 ["human labels: P(lists)", esc(fmt_rate(human.get("p_lists")))]]
    rel = [[esc(n), esc(fmt_num(r.get("weight"))), esc(fmt_num(r.get("accuracy"))), esc(r.get("source"))]
           for n, r in (jury.get("judge_reliability") or {}).items()]
    out = "<h2>Jury</h2>" + _table(["statistic", "value"], rows)
    if rel:
        out += "<h3>Judge reliability</h3>" + _table(["judge", "weight", "estimated accuracy", "source"], rel)
    return out


def _generators_section(gen: dict) -> str:
    models = gen.get("models") or {}
    if not models:
        return f"<h2>Generators</h2><p class=\"muted\">Not computed: {esc(gen.get('reason'))}</p>"
    rows = [[esc(n), esc(e.get("family")), esc(e.get("n")), esc(fmt_rate(e.get("win_rate"))), esc(fmt_rate(e.get("lc_win_rate")))]
            for n, e in models.items()]
    return "<h2>Generators</h2>" + _table(["model", "family", "n", "win rate", "length-controlled win rate"], rows)


def _contested_section(cards: list[dict]) -> str:
    if not cards:
        return "<h2>Most contested pairs</h2><p class=\"muted\">The judges agreed on every pair.</p>"
    out = ["<h2>Most contested pairs</h2>"]
    for c in cards:
        calls = ", ".join(f"{esc(x['judge'])} ({esc(x['order'])}): {esc(x['winner'])}" for x in c["calls"])
        out.append(
            f"<details><summary>{esc(c['pair_id'])}: agreement {esc(fmt_num(c['agreement']))}, jury {esc(c['jury_winner'])}, "
            f"human {esc(c['human'])}</summary><p>{calls}</p><h4>Prompt</h4><pre>{esc(c['prompt'])}</pre>"
            f"<h4>A ({esc(c['model_a'])})</h4><pre>{esc(c['response_a'])}</pre>"
            f"<h4>B ({esc(c['model_b'])})</h4><pre>{esc(c['response_b'])}</pre></details>")
    return "".join(out)


def render_html(data: dict) -> str:
    """The whole report as one HTML document."""
    m = data.get("meta", {})
    warnings = "".join(f"<li>{esc(w)}</li>" for w in data.get("warnings", [])) or "<li>No significant bias found.</li>"
    body = "".join([
        "<h1>Judge audit</h1>",
        f"<p>{esc(m.get('n_rows'))} judgments of {esc(m.get('n_pairs'))} pairs by {esc(m.get('n_judges'))} judge(s); "
        f"source: {esc(m.get('kind'))}. Rates show the 95% CI and the count they rest on.</p>",
        f'<h2>Warnings</h2><ul class="warn">{warnings}</ul>',
        _judges_section(data.get("judges", {})), _plots_section(data), _jury_section(data.get("jury", {}), data.get("human") or {}),
        _generators_section(data.get("generators", {})), _contested_section(data.get("contested", [])),
    ])
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>prefjudge audit</title><style>{STYLE}</style></head><body>{body}</body></html>\n")
