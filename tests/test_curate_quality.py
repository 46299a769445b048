"""Curation makes the data better on the simulated jury: chosen beats rejected in latent quality more often.

Demo pairs (latent qualities known to the simulator) are judged by the three-judge demo jury
(noise 0.5 / 0.7 / 1.2, position, length and self bias), one call per judge in a seeded random order.
"Before" is every pair with a winner; "after" keeps unanimous pairs and balances lengths.
"""

from __future__ import annotations

import prefjudge as pj
import prefjudge.curate as pc
from prefjudge.stats.intervals import wilson
from prefjudge.testing import SimServer, SimWorld, default_sim_jury, make_demo_pairs


def _share(prefs, quality):
    rows = list(prefs)
    hits = sum(quality[r["chosen"]] > quality[r["rejected"]] for r in rows)
    return hits, len(rows)


def test_curation_raises_the_share_of_truly_better_chosen_answers(capsys):
    world = SimWorld()
    pairs = make_demo_pairs(300, seed=7, world=world)
    quality = {p[f"response_{s}"]: p[f"quality_{s}"] for p in pairs for s in "ab"}
    with SimServer(judges=default_sim_jury(), world=world) as server:
        judges = [pj.Judge(j.name, base_url=server.base_url, api_key="x") for j in default_sim_jury()]
        blind = [{k: v for k, v in p.items() if not k.startswith("quality")} for p in pairs]
        result = pj.rank_pairs(blind, judges=judges, order="random", seed=0, progress=False)
    before = pc.to_preferences(result)
    after = pc.to_preferences(result, min_agreement=1.0, length_balance="match")
    hb, nb = _share(before, quality)
    ha, na = _share(after, quality)
    lo_b, hi_b = wilson(hb, nb)
    lo_a, hi_a = wilson(ha, na)
    with capsys.disabled():
        print(f"\nchosen better in latent quality: before {hb}/{nb} = {hb / nb:.3f} (95% CI {lo_b:.3f}-{hi_b:.3f}); "
              f"after {ha}/{na} = {ha / na:.3f} (95% CI {lo_a:.3f}-{hi_a:.3f}); "
              f"chosen longer {after.report.length_balance['before']:.3f} -> {after.report.length_balance['after']:.3f}")
    assert na >= 100  # enough pairs survive to be a dataset
    assert ha / na - hb / nb >= 0.05  # clearly higher ...
    assert (1 - ha / na) <= 0.5 * (1 - hb / nb)  # ... at least half of the wrong pairs gone
    assert after.report.length_balance["before"] > 0.6 and after.report.length_balance["after"] == 0.5
