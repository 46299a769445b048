"""The calibration section of the HTML report in real headless Chromium: with soft verdicts and
human labels the reliability plot is in the DOM and draws; the existing report without soft
verdicts (tests/test_audit_chromium.py) has neither section nor plot."""

from __future__ import annotations

import numpy as np
import pytest
from test_audit_chromium import PAYLOADS, _body_tag, _chromium, _run
from test_calibration import _miscalibrated_table

from prefjudge.audit import audit

pytestmark = pytest.mark.slow  # drives headless Chromium


@pytest.fixture(scope="module")
def calibrated_html(tmp_path_factory):
    table = _miscalibrated_table(200, seed=2)
    table["judge"] = table["judge"].where(table["judge"] != "over", "over" + PAYLOADS[0])  # a hostile judge name
    path = tmp_path_factory.mktemp("calib") / "audit.html"
    audit(table, aggregate="mean").to_html(path)
    return path


def test_the_reliability_plot_is_in_the_dom(calibrated_html, tmp_path):
    dom = _run(_chromium(), tmp_path, "--dump-dom", calibrated_html.as_uri())
    assert "data-pwned" not in _body_tag(dom) and "<script" not in dom.lower()
    assert 'id="calibration"' in dom
    start = dom.index('id="plot-calibration"')
    assert "<svg" in dom[start: start + 400]
    assert "judge over&lt;script&gt;" in dom  # the name shows as text in the calibration table


def test_the_reliability_plot_draws(calibrated_html, tmp_path):
    shot = tmp_path / "shot.png"
    _run(_chromium(), tmp_path, "--window-size=1200,5000", "--hide-scrollbars", f"--screenshot={shot}", calibrated_html.as_uri())
    from matplotlib.image import imread

    img = (imread(shot)[..., :3] * 255).round().astype(int)
    # the reliability lines use matplotlib's first two colours (#1f77b4, #ff7f0e); the page's other
    # plots (first position) use only the first, and the length plot is empty (all answers the same length)
    orange = (np.abs(img - np.array([255, 127, 14])).sum(axis=2) < 30).sum()
    assert orange > 100, orange
