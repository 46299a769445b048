"""Plain-words warnings for the biases whose 95% CI excludes the no-bias value."""

from __future__ import annotations

#: Warn about order consistency when even the upper end of its CI is below this.
CONSISTENCY_FLOOR = 0.8
#: Warn about parse failures above this share of calls.
FAILURE_CEILING = 0.05
#: Warn about weak agreement between judges below this Fleiss' kappa.
KAPPA_FLOOR = 0.2
#: Warn about miscalibrated probabilities only above this expected calibration error.
ECE_FLOOR = 0.05


def pct(x: float) -> str:
    """A share as a whole percentage.

    >>> pct(0.7149)
    '71%'
    """
    return f"{x * 100:.0f}%"


def ci_text(entry: dict, unit: str = "") -> str:
    lo, hi = entry["ci"]
    return f"95% CI {lo * 100:.0f}-{hi * 100:.0f}%, n={entry['n']}{unit}"


def excludes(entry: dict | None, value: float) -> bool:
    """True when the entry has a CI and ``value`` lies outside it."""
    return bool(entry and entry.get("value") is not None and entry.get("ci") and not entry["ci"][0] <= value <= entry["ci"][1])


def _reference(human: dict, key: str, what: str) -> tuple[float, str]:
    """The value a judge without this bias would show: the human labels' rate when known, else 50%."""
    h = human.get(key) or {}
    if h.get("value") is not None:
        return h["value"], f"the human labels prefer it {pct(h['value'])} of the time"
    return 0.5, f"no {what} bias would be 50%, unless such answers are truly better (compare the length-controlled win rates)"


def _style_warnings(who: str, e: dict, human: dict, dataset: bool) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    ref, ref_text = _reference(human, "p_longer", "length")
    verb = "was the longer answer" if dataset else "preferred the longer answer"
    if excludes(e["p_longer"], ref):
        out.append(("p_longer", f"{who} {verb} {pct(e['p_longer']['value'])} of the time ({ci_text(e['p_longer'])} "
                   f"verdicts on pairs whose lengths differ by more than 30 characters); {ref_text}"))
    elif not human.get("n") and excludes(e.get("length_slope"), 0.0):
        s = e["length_slope"]
        out.append(("p_longer", f"{who}'s verdicts depend on answer length: logistic slope {s['value']:+.2f} on tanh(length difference / sd) "
                   f"(95% CI {s['ci'][0]:+.2f} to {s['ci'][1]:+.2f}, n={s['n']}); no length bias would be 0"))
    ref, ref_text = _reference(human, "p_lists", "list")
    if excludes(e["p_lists"], ref):
        verb = "was the answer with a list" if dataset else "preferred the answer with a list"
        out.append(("p_lists", f"{who} {verb} {pct(e['p_lists']['value'])} of the time ({ci_text(e['p_lists'])} "
                   f"verdicts on pairs where exactly one answer has a list); {ref_text}"))
    return out


#: Which counterfactual probe checks which observational statistic (docs/audit.md).
PROBE_FOR = {"p_first": "swap", "p_longer": "pad", "p_lists": "lists", "self_preference": "identity"}


def judge_warnings(name: str, e: dict, dataset: bool, human: dict | None = None) -> list[str]:
    """The judge's warnings; with probes, each observational warning says whether the matching
    probe moved this judge, and a probe that moved it where no statistic warned is a warning too."""
    plain = _judge_warnings(name, e, dataset, human)
    probes = e.get("probes") or {}
    if not probes:
        return [w for _, w in plain]
    out, covered = [], set()
    for key, w in plain:
        probe = probes.get(PROBE_FOR.get(key, ""))
        if probe:
            covered.add(PROBE_FOR[key])
            w = f"{w}. Counterfactual check ({PROBE_FOR[key]} probe): {probe.get('summary')}"
        out.append(w)
    for probe_name, probe in probes.items():
        if probe_name not in covered and probe.get("detected"):
            out.append(f"judge {name}: {probe.get('summary')}")
    return out


def _judge_warnings(name: str, e: dict, dataset: bool, human: dict | None = None) -> list[tuple[str, str]]:
    """(statistic, warning) pairs from the observational statistics alone."""
    who = "the chosen answer" if dataset else f"judge {name}"
    out: list[tuple[str, str]] = []
    if not dataset and e.get("parsed_rate") is not None and 1 - e["parsed_rate"] > FAILURE_CEILING:
        out.append(("parsed_rate", f"judge {name} gave no readable verdict on {e['n'] - e['n_parsed']} of {e['n']} calls ({pct(1 - e['parsed_rate'])})"))
    if excludes(e["p_first"], 0.5):
        out.append(("p_first", f"{who} picked the answer shown first {pct(e['p_first']['value'])} of the time ({ci_text(e['p_first'])}); "
                   "an unbiased judge stays near 50%"))
    c = e["consistency"]
    if c.get("value") is not None and c["ci"][1] < CONSISTENCY_FLOOR:
        out.append(("consistency", f"judge {name} gave the same verdict in both orders on only {pct(c['value'])} of pairs ({ci_text(c)})"))
    out += _style_warnings(who, e, human or {}, dataset)
    sp = e.get("self_preference") or {}
    if excludes(sp, 0.0):
        lo, hi = sp["ci"]
        out.append(("self_preference", f"judge {name} (family {sp['family']}) gave answers from its own family a win rate "
                   f"{sp['value'] * 100:+.0f} points different from the {sp['reference']} on the same pairs "
                   f"(95% CI {lo * 100:+.0f} to {hi * 100:+.0f} points, n={sp['n']} pairs); no self-preference would be 0"))
    return out


def build_warnings(data: dict) -> list[str]:
    """All warnings of a report dictionary, judges first, then the jury."""
    dataset = data.get("meta", {}).get("kind") == "dataset"
    human = data.get("human") or {}
    out = [w for name, e in data["judges"].items() for w in judge_warnings(name, e, dataset, human)]
    jury = data["jury"]
    if jury.get("below_quorum"):
        out.append(f"{jury['below_quorum']} of {jury['n']} pairs had fewer judges with a parsed verdict than the quorum and have no winner")
    fk = jury.get("agreement", {}).get("fleiss_kappa", {})
    if fk.get("value") is not None and fk["value"] < KAPPA_FLOOR:
        out.append(f"the judges agree little beyond chance (Fleiss' kappa {fk['value']:.2f} over {fk['n']} pairs)")
    out += calibration_warnings(data)
    return out


def calibration_warnings(data: dict) -> list[str]:
    """Soft verdicts whose expected calibration error exceeds both :data:`ECE_FLOOR` and what a
    perfectly calibrated judge would show on the same predictions (95%)."""
    entries = [(f"judge {name}'s p_a", repr(name), e.get("calibration")) for name, e in data.get("judges", {}).items()]
    entries.append(("the jury's p_a", "", (data.get("jury") or {}).get("calibration")))
    out = []
    for who, arg, c in entries:
        if not c or not c.get("n") or c.get("ece") is None:
            continue
        bound = c.get("ece_calibrated_95") or 0.0
        if c["ece"] <= max(ECE_FLOOR, bound):
            continue
        t = ((c.get("recalibration") or {}).get("temperature") or {}).get("temperature")
        how = ("uninformative (fitted temperature infinite)" if t is None else
               f"{'overconfident' if t > 1 else 'underconfident'} (fitted temperature {t:.2f})")
        out.append(f"{who} is miscalibrated against the human labels: expected calibration error {c['ece']:.2f} "
                   f"(n={c['n']} {c.get('unit', 'verdict')}s; a calibrated judge would stay below {bound:.2f} here, 95%), "
                   f"{how}, Brier {c['brier']:.3f}; to_preferences(calibration=report.calibrator({arg})) recalibrates margins")
    return out
