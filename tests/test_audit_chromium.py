"""Open the HTML report in real headless Chromium: no script runs, the SVG plots are in the DOM and draw.

Skipped when Debian's chromium is absent, unless the environment variable CI is set (then it fails:
the CI job installs it with ``apt-get install -y chromium``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from _audit_helpers import SimJudgeSpec, judge_pairs, make_pairs

from prefjudge.audit import audit

pytestmark = pytest.mark.slow  # drives headless Chromium

PAYLOADS = [
    "<script>document.body.setAttribute('data-pwned','script')</script>",
    "<img src=x onerror=\"document.body.setAttribute('data-pwned','img')\">",
    "<svg onload=\"document.body.setAttribute('data-pwned','svg')\"></svg>",
    "</pre><script>document.body.setAttribute('data-pwned','breakout')</script>",
]


def _chromium() -> str:
    path = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is required under CI (apt-get install -y chromium)")
        pytest.skip("Debian's chromium is not installed (apt-get install -y chromium)")
    return path


def _run(chromium: str, tmp: Path, *args: str) -> str:
    cmd = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
           "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={tmp / 'profile'}",
           "--virtual-time-budget=3000", *args]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout


def _body_tag(dom: str) -> str:
    start = dom.index("<body")
    return dom[start: dom.index(">", start) + 1]


@pytest.fixture(scope="module")
def report_html(tmp_path_factory) -> Path:
    pairs = make_pairs(80, seed=7)
    for i, p in enumerate(PAYLOADS):
        pairs["response_a"] = pairs["response_a"].where(pairs.index % len(PAYLOADS) != i, p + " " + pairs["response_a"])
    pairs["prompt"] = PAYLOADS[0] + pairs["prompt"]
    pairs.loc[pairs["model_b"] == "mistral-7b", "model_b"] = "mistral-7b" + PAYLOADS[1]
    judges = [SimJudgeSpec("gpt-4o", position_bias=0.3), SimJudgeSpec("claude-3-haiku", length_bias=1.0),
              SimJudgeSpec("llama-3-8b" + PAYLOADS[0], family="meta", self_bias=1.0)]
    path = tmp_path_factory.mktemp("report") / "audit.html"
    audit(judge_pairs(pairs, judges, seed=7, human=True)).to_html(path)
    return path


def test_the_detector_catches_a_script_that_runs(tmp_path):
    """Control: the same payloads in an unescaped page without CSP do run, so the check below can fail."""
    chromium = _chromium()
    page = tmp_path / "unsafe.html"
    page.write_text("<!DOCTYPE html><html><body><pre>" + PAYLOADS[0] + "</pre></body></html>")
    assert 'data-pwned="script"' in _body_tag(_run(chromium, tmp_path, "--dump-dom", page.as_uri()))


def test_no_script_runs_and_the_plots_are_in_the_dom(report_html, tmp_path):
    chromium = _chromium()
    dom = _run(chromium, tmp_path, "--dump-dom", report_html.as_uri())
    assert "data-pwned" not in _body_tag(dom)
    assert "<script" not in dom.lower()
    assert "&lt;script&gt;document.body.setAttribute" in dom  # the payload shows as text
    for fig in ("plot-first", "plot-longer", "plot-family", "plot-agreement"):
        start = dom.index(f'id="{fig}"')
        assert "<svg" in dom[start: start + 400], fig
    assert dom.count("<svg") == 4
    assert 'id="plot-calibration"' not in dom  # no soft verdicts: no reliability plot (tests/test_calibration_chromium.py)


def test_the_plots_draw_pixels(report_html, tmp_path):
    chromium = _chromium()
    shot = tmp_path / "shot.png"
    _run(chromium, tmp_path, "--window-size=1200,6000", "--hide-scrollbars", f"--screenshot={shot}", report_html.as_uri())
    from matplotlib.image import imread

    img = (imread(shot)[..., :3] * 255).round().astype(int)
    # matplotlib's first colour (#1f77b4) appears only in the plots (error bars, markers, lines)
    blue = (np.abs(img - np.array([31, 119, 180])).sum(axis=2) < 30).sum()
    # the diverging heatmap reaches deep red cells for the self-biased judge
    nonwhite = (img.sum(axis=2) < 740).mean()
    assert blue > 300, blue
    assert nonwhite > 0.02, nonwhite
    assert len(np.unique(img.reshape(-1, 3) // 16, axis=0)) > 50  # colourful plots, not a blank page
