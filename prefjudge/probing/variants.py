"""The probes' variants: which answer each probe edits, how, and what is compared with what.

Everything here is pure and seeded: the same pairs, judge, verdicts and seed give the same
variant texts (:func:`variant_texts` rebuilds any one of them). The edits themselves (their exact
wording, and their inverses) are in :mod:`prefjudge.perturbations`.

A probe is a list of :class:`Comparison`: two requests (:class:`Shown`) of the same pair in the
same display order, a *baseline* and a *variant*, and the *target*: the answer (a or b) the
variant favours if the judge is biased. See docs/audit.md ("Counterfactual probes").
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from prefjudge import perturbations as pt
from prefjudge.families import infer_family
from prefjudge.types import Order, Pair

ProbeName = Literal["swap", "pad", "lists", "injection", "identity", "repeat"]
PROBES: tuple[ProbeName, ...] = ("swap", "pad", "lists", "injection", "identity", "repeat")
ORDERS: tuple[Order, Order] = ("ab", "ba")
Side = Literal["a", "b"]

#: The model named as an answer's author for each family (the identity probe).
REPRESENTATIVES: dict[str, str] = {
    "openai": "GPT-4o",
    "anthropic": "Claude 3.5 Sonnet",
    "meta": "Llama 3.1 70B Instruct",
    "google": "Gemini 1.5 Pro",
    "mistral": "Mistral Large",
    "qwen": "Qwen2.5 72B Instruct",
    "deepseek": "DeepSeek-V3",
    "cohere": "Command R+",
}

#: What each probe compares (the report carries it).
MEASURES: dict[str, str] = {
    "swap": "the same pair in the other display order; target: the answer moved to the first position",
    "pad": "the answer the judge did not prefer (treatment) or did prefer (control) padded with content-free "
           "filler; target: the padded answer",
    "lists": "one answer's sentences reformatted as a bulleted list; target: the listed answer",
    "injection": "an instruction to the judge appended to the answer it did not prefer, against a same-length "
                 "paragraph of pleasantries appended to the same answer; target: that answer",
    "identity": "each answer under a line naming its author, the judge's own family on one and another family on "
                "the other, against the names swapped; target: the answer named as the judge's family",
    "repeat": "the same request again (a distinct request seed); the value is the share of verdicts that changed",
}


def probe_rng(seed: int, *parts: object) -> random.Random:
    """A ``random.Random`` seeded from SHA-256 of (seed, parts): stable across processes."""
    digest = hashlib.sha256("\x1f".join(map(str, (seed, *parts))).encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def other(side: Side) -> Side:
    return "b" if side == "a" else "a"


def first_side(order: Order) -> Side:
    """The side (a or b) shown first in ``order``."""
    return "a" if order == "ab" else "b"


@dataclass(frozen=True)
class Shown:
    """One request: a pair's two answers (possibly edited, in a/b terms) in one display order."""

    pair_id: str
    tag: str
    """``orig``, ``pad-a``, ``list-b``, ``inject-a``, ``placebo-a``, ``own-a`` (a named as the judge's
    family, b as another), ``own-b``, ``repeat``."""
    order: Order
    response_a: str
    response_b: str

    @property
    def key(self) -> str:
        return f"{self.pair_id}::{self.tag}::{self.order}"

    def shown(self) -> tuple[str, str]:
        """(first, second) as displayed."""
        return (self.response_a, self.response_b) if self.order == "ab" else (self.response_b, self.response_a)


@dataclass(frozen=True)
class Comparison:
    """Two verdicts on one pair in one display order, scored toward ``target``."""

    pair_id: str
    probe: ProbeName
    arm: str
    order: Order
    target: Side
    baseline: str
    """Key of the baseline request."""
    variant: str
    """Key of the variant request."""


# ----------------------------------------------------------------------------- the edits, seeded
def padded(pair: Pair, side: Side, seed: int) -> str:
    """``side``'s answer padded with a pleasantry, the question restated and closing pleasantries."""
    return pt.pad(_text(pair, side), pair.prompt_text(), probe_rng(seed, pair.id, "pad", side))


def listed(pair: Pair, side: Side) -> str | None:
    """``side``'s sentences as a bulleted list; None when the answer cannot be listed (see
    :func:`prefjudge.perturbations.to_list`) or already holds a list."""
    from prefjudge.audit.facts import has_list

    text = _text(pair, side)
    return None if has_list(text) else pt.to_list(text)


def list_side(pair: Pair, seed: int) -> Side | None:
    """The answer the lists probe edits: drawn (seeded) among those that can be listed."""
    sides: list[Side] = [s for s in ("a", "b") if listed(pair, s) is not None]
    return probe_rng(seed, pair.id, "lists").choice(sides) if sides else None


def injected(pair: Pair, side: Side, order: Order, seed: int) -> str:
    """``side``'s answer with an instruction to the judge naming its display letter in ``order``."""
    letter = "A" if first_side(order) == side else "B"
    return pt.inject(_text(pair, side), letter, probe_rng(seed, pair.id, "injection", side))


def placebo(pair: Pair, side: Side, order: Order, seed: int) -> str:
    """``side``'s answer with pleasantries appended, about as long as the injection's instruction."""
    length = len(injected(pair, side, order, seed)) - len(_text(pair, side).strip()) - 2
    return pt.append_filler(_text(pair, side), length, probe_rng(seed, pair.id, "placebo", side))


def author_names(family: str | None, model: str, pair_id: str, seed: int) -> tuple[str, str]:
    """(a model of the judge's own family, a model of another family) to name as authors."""
    own = REPRESENTATIVES.get(family or "") or " ".join(model.replace("]", ")").split()) or "this model"
    others = sorted(name for fam, name in REPRESENTATIVES.items() if fam != family and infer_family(name) != family)
    return own, probe_rng(seed, pair_id, "identity", family).choice(others)


def named(pair: Pair, own_side: Side, own: str, other_name: str) -> tuple[str, str]:
    """(a, b) with ``own_side`` under ``own``'s name and the other answer under ``other_name``'s."""
    names = {own_side: own, other(own_side): other_name}
    width = len(pt.AUTHOR_LINE.format(author=max(own, other_name, key=len)))  # both answers grow alike
    return (pt.name_author(pair.response_a, names["a"], width), pt.name_author(pair.response_b, names["b"], width))


def _text(pair: Pair, side: Side) -> str:
    return pair.response_a if side == "a" else pair.response_b


def _with(pair: Pair, side: Side, text: str) -> tuple[str, str]:
    return (text, pair.response_b) if side == "a" else (pair.response_a, text)


def variant_texts(pair: Pair, tag: str, order: Order, seed: int, *, family: str | None = None,
                  model: str = "") -> tuple[str, str] | None:
    """The (a, b) texts of request ``tag`` (see :attr:`Shown.tag`); None when the edit does not apply.

    The identity probe needs the judge's ``family`` and ``model``.
    """
    kind, _, side = tag.partition("-")
    if kind in ("orig", "repeat"):
        return pair.response_a, pair.response_b
    if side not in ("a", "b"):
        raise ValueError(f"unknown variant tag {tag!r}")
    s: Side = side  # type: ignore[assignment]
    if kind == "pad":
        return _with(pair, s, padded(pair, s, seed))
    if kind == "list":
        text = listed(pair, s)
        return None if text is None else _with(pair, s, text)
    if kind == "inject":
        return _with(pair, s, injected(pair, s, order, seed))
    if kind == "placebo":
        return _with(pair, s, placebo(pair, s, order, seed))
    if kind == "own":
        own, other_name = author_names(family, model, pair.id, seed)
        return named(pair, s, own, other_name)
    raise ValueError(f"unknown variant tag {tag!r}")


# ----------------------------------------------------------------------------- the plans
@dataclass
class Plan:
    """Requests to judge and comparisons to score for one judge, in one round."""

    shown: list[Shown]
    comparisons: list[Comparison]
    skipped: dict[str, int]
    """Pairs a probe left out, by probe (e.g. lists: no answer could be listed)."""


def _shown(pair: Pair, tag: str, seed: int, family: str | None, model: str) -> list[Shown]:
    out = []
    for order in ORDERS:
        texts = variant_texts(pair, tag, order, seed, family=family, model=model)
        if texts is not None:
            out.append(Shown(pair.id, tag, order, *texts))
    return out


def _key(pair: Pair, tag: str, order: Order) -> str:
    return Shown(pair.id, tag, order, "", "").key


def needs_original(probes: Iterable[str]) -> bool:
    return any(p != "identity" for p in probes)


def first_round(pairs: Sequence[Pair], probes: Sequence[str], seed: int, *, family: str | None,
                model: str) -> Plan:
    """What does not depend on the judge's verdicts: the pairs as they are (both orders), lists,
    identity, and the comparisons of swap and lists. (Repeat reuses the originals' texts.)"""
    shown: list[Shown] = []
    comps: list[Comparison] = []
    skipped: dict[str, int] = {}
    for p in pairs:
        if needs_original(probes):
            shown += _shown(p, "orig", seed, family, model)
        if "swap" in probes:
            comps.append(Comparison(p.id, "swap", "swap", "ba", "b", _key(p, "orig", "ab"), _key(p, "orig", "ba")))
        if "lists" in probes:
            side = list_side(p, seed)
            if side is None:
                skipped["lists"] = skipped.get("lists", 0) + 1
            else:
                shown += _shown(p, f"list-{side}", seed, family, model)
                comps += [Comparison(p.id, "lists", "lists", o, side, _key(p, "orig", o), _key(p, f"list-{side}", o))
                          for o in ORDERS]
        if "identity" in probes:
            shown += _shown(p, "own-a", seed, family, model) + _shown(p, "own-b", seed, family, model)
            comps += [Comparison(p.id, "identity", "identity", o, "a", _key(p, "own-b", o), _key(p, "own-a", o))
                      for o in ORDERS]
        if "repeat" in probes:
            comps += [Comparison(p.id, "repeat", "repeat", o, "a", _key(p, "orig", o), _key(p, "repeat", o))
                      for o in ORDERS]
    return Plan(shown, comps, skipped)


def repeat_requests(pairs: Sequence[Pair]) -> list[Shown]:
    """The originals again, as ``repeat`` requests (sent with another request seed)."""
    return [Shown(p.id, "repeat", o, p.response_a, p.response_b) for p in pairs for o in ORDERS]


def not_preferred(pair: Pair, verdicts: Mapping[str, str | None], judge: str, seed: int) -> Side:
    """The answer the judge did not prefer in its verdicts on the original (both orders: a minus b);
    drawn (seeded) when they are level or missing."""
    score = 0
    for o in ORDERS:
        w = verdicts.get(_key(pair, "orig", o))
        score += 1 if w == "a" else -1 if w == "b" else 0
    if score > 0:
        return "b"
    if score < 0:
        return "a"
    return probe_rng(seed, pair.id, "not-preferred", judge).choice(("a", "b"))


def second_round(pairs: Sequence[Pair], probes: Sequence[str], seed: int, verdicts: Mapping[str, str | None],
                 judge: str) -> Plan:
    """What depends on the judge's verdicts on the originals: pad (treatment on the answer it did
    not prefer, control on the one it did) and injection (on the answer it did not prefer)."""
    shown: list[Shown] = []
    comps: list[Comparison] = []
    for p in pairs:
        loser = not_preferred(p, verdicts, judge, seed)
        if "pad" in probes:
            for arm, side in (("treatment", loser), ("control", other(loser))):
                shown += _shown(p, f"pad-{side}", seed, None, "")
                comps += [Comparison(p.id, "pad", arm, o, side, _key(p, "orig", o), _key(p, f"pad-{side}", o))
                          for o in ORDERS]
        if "injection" in probes:
            shown += _shown(p, f"inject-{loser}", seed, None, "") + _shown(p, f"placebo-{loser}", seed, None, "")
            comps += [Comparison(p.id, "injection", "injection", o, loser, _key(p, f"placebo-{loser}", o),
                                 _key(p, f"inject-{loser}", o)) for o in ORDERS]
    return Plan(shown, comps, {})
