"""The HTML report comes from the packaged Jinja2 template: data strings are escaped by its
autoescape, the template ships in the wheel, the CSP meta is there, and StrictUndefined turns a
value missing from the context into an error."""

from __future__ import annotations

import importlib.resources
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import jinja2
import pandas as pd
import pytest

from prefjudge.audit import AuditReport, audit
from prefjudge.audit.render import plots
from prefjudge.audit.render.html import TEMPLATE, environment, html_context, render_template

ROOT = Path(__file__).resolve().parents[1]
PAYLOAD = '<script>alert(1)</script>"onload='
ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;&#34;onload="
CSP_META = ('<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; script-src \'none\'; '
            "object-src 'none'; style-src 'unsafe-inline'; img-src data:; font-src 'none'; connect-src 'none'; "
            "base-uri 'none'; form-action 'none'\">")


def _table() -> pd.DataFrame:
    """One judge (named with the payload) that flips its verdict on pair p between the two orders, so p
    is a contested pair whose prompt and models (also carrying the payload) are shown."""
    judge, model = PAYLOAD + "judge", PAYLOAD + "model"
    rows = [("p", "ab", "a"), ("p", "ba", "b"), ("q", "ab", "a"), ("q", "ba", "a")]
    return pd.DataFrame([{"pair_id": p, "judge": judge, "order": o, "winner": w, "prompt": PAYLOAD + "prompt " + p,
                          "model_a": model if p == "p" else "other", "model_b": "other" if p == "p" else model,
                          "response_a": "short", "response_b": "a much longer answer " * 3} for p, o, w in rows])


@pytest.fixture(scope="module")
def report():
    return audit(_table())


@pytest.fixture(scope="module")
def page(report) -> str:
    return report.to_html()


def test_judge_model_and_prompt_are_escaped(page):
    assert PAYLOAD[:8] not in page and '"onload=' not in page and "<script" not in page.lower()
    assert f"<td>{ESCAPED}judge</td>" in page  # judges table
    assert f"<td>{ESCAPED}model</td>" in page  # generators table
    assert f"<h4>A ({ESCAPED}model)</h4>" in page  # contested pair card
    assert f"<pre>{ESCAPED}prompt p</pre>" in page
    assert "<summary>p: agreement" in page


def test_the_template_escapes_context_strings_itself():
    """The context holds raw text; autoescape in the template is what escapes it."""
    ctx = html_context(audit(_table()).to_dict())
    assert ctx["judges"][0]["name"] == PAYLOAD + "judge" and ctx["contested"][0]["prompt"].startswith(PAYLOAD)
    ctx["meta"]["kind"] = PAYLOAD + "kind"
    ctx["warnings"] = [PAYLOAD + "warning"]
    out = render_template(ctx)
    assert f"source: {ESCAPED}kind." in out and f"<li>{ESCAPED}warning</li>" in out
    assert environment().autoescape is True and environment().undefined is jinja2.StrictUndefined


def test_csp_meta_is_in_the_head(page):
    head = page[: page.index("</head>")]
    assert page.startswith("<!DOCTYPE html>")
    assert CSP_META in head


def test_the_plots_carry_no_data_text():
    """The SVGs go into the page unescaped (Markup): no judge name may reach their markup, not even in
    matplotlib's comments."""
    rate = {"value": 0.6, "ci": [0.5, 0.7], "n": 10, "reason": None}
    svg = plots.p_first_plot({PAYLOAD: {"p_first": rate}, "<b>other</b>": {"p_first": rate}})
    assert svg.startswith("<svg") and "<path" in svg
    assert not re.search(r"script|onload|other|<!--", svg)


def test_plots_stay_inline_svg(page):
    assert page.count("<svg") >= 1 and 'id="plot-first" class="plot"><svg' in page


def test_template_is_found_through_the_installed_package():
    res = importlib.resources.files("prefjudge.audit.render").joinpath("templates", TEMPLATE)
    assert res.is_file()
    template = environment().get_template(TEMPLATE)
    assert Path(template.filename).resolve() == Path(str(res)).resolve()
    assert CSP_META in res.read_text(encoding="utf-8")


def test_a_missing_context_value_is_an_error(report):
    ctx = html_context(report.to_dict())
    render_template(ctx)  # complete: renders
    for drop in (lambda c: c.pop("warnings"), lambda c: c["jury"].pop("rule"), lambda c: c["judges"][0].pop("kappa"),
                 lambda c: c["contested"][0].pop("prompt")):
        broken = html_context(report.to_dict())
        drop(broken)
        with pytest.raises(jinja2.UndefinedError):
            render_template(broken)


def test_a_missing_report_entry_still_renders():
    """html_context fills what the report lacks (en dashes), so the strict template gets every key."""
    out = AuditReport({"meta": {}}).to_html()
    assert "– judgments of – pairs" in out and "<li>No significant bias found.</li>" in out


@pytest.mark.slow  # builds and installs a wheel
@pytest.mark.timeout(600)
def test_the_wheel_ships_the_template(tmp_path):
    """Built from a copy of the sources and installed into a fresh folder, the package renders the
    report from its own template (package data), outside the checkout."""
    src = tmp_path / "src"
    shutil.copytree(ROOT / "prefjudge", src / "prefjudge", ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info"))
    for path in ROOT.iterdir():
        if path.is_file():
            shutil.copy2(path, src / path.name)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check"]
    built = subprocess.run([*pip, "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-w", str(tmp_path / "dist"), str(src)],
                           capture_output=True, text=True, timeout=600)
    assert built.returncode == 0, built.stderr[-3000:]
    (wheel,) = (tmp_path / "dist").glob("prefjudge-*.whl")
    assert f"prefjudge/audit/render/templates/{TEMPLATE}" in zipfile.ZipFile(wheel).namelist()
    site = tmp_path / "site"
    installed = subprocess.run([*pip, "install", "--no-deps", "--no-index", "--target", str(site), str(wheel)],
                               capture_output=True, text=True, timeout=600)
    assert installed.returncode == 0, installed.stderr[-3000:]
    code = ("import importlib.resources, prefjudge; from prefjudge.audit import AuditReport; "
            "print(prefjudge.__file__); "
            f"print(importlib.resources.files('prefjudge.audit.render').joinpath('templates', {TEMPLATE!r})); "
            "print(AuditReport({'meta': {'n_rows': 7}}).to_html().count('Content-Security-Policy'))")
    work = tmp_path / "elsewhere"
    work.mkdir()
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=work,
                         env={"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})
    assert out.returncode == 0, out.stderr[-3000:]
    package, template, n_csp = out.stdout.split()
    assert Path(package).resolve().is_relative_to(site.resolve())
    assert Path(template).resolve().is_relative_to(site.resolve()) and Path(template).is_file()
    assert n_csp == "1"
