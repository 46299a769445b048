"""Counterfactual bias probes: judge content-preserving variants of pairs and measure how far the
verdicts move (``probe`` -> ``ProbeReport``). See docs/audit.md, "Counterfactual probes".

Unlike :mod:`prefjudge.audit`, which reads a judgments table and never calls a judge, this layer
calls judges (through ``rank_pairs``). ``import prefjudge.probing`` is cheap: names load on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from prefjudge._lazy import lazy_exports

_EXPORTS: dict[str, str] = {
    "probe": ".run",
    "ProbeReport": ".report",
    "PROBES": ".variants",
    "variant_texts": ".variants",
}

__all__ = sorted(_EXPORTS)

if TYPE_CHECKING:  # pragma: no cover
    from prefjudge.probing.report import ProbeReport
    from prefjudge.probing.run import probe
    from prefjudge.probing.variants import PROBES, variant_texts


__getattr__, __dir__ = lazy_exports(__name__, globals(), _EXPORTS)
