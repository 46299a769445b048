"""The SIMULATED marker: which judges and generators of a run were prefjudge's simulator, and the words
every artefact of such a run opens with.

A run is marked by the code that started the simulator, never guessed from a URL or a model name
(a vLLM server on 127.0.0.1 is real; a loopback ``SimServer`` a test passes off as a real API is
treated as real, as that test asks). Two explicit sources:

- the code that runs a simulated world and knows which parts it simulated (the recipes' curate step)
  writes the marker into the run's provenance itself: ``meta["simulated"]``;
- code that hands out simulated Judges (:func:`prefjudge.testing.simulated_jury`, the recipes'
  simulated world) registers each endpoint it serves, ``(model, base_url)`` of a ``SimServer`` it
  started (:func:`register_endpoint`); a judge in a run's provenance (``meta["judges"]``, written by
  ``rank_pairs``) that names exactly such an endpoint, or carries ``"simulated": true``, is simulated.
  The register lives in the process that ran the simulator; what it finds is copied into the
  provenance (``to_preferences``) and into the audit (its ``simulated`` key), so the files written
  from them keep the mark in any process.

The marker is ``None`` (not simulated) or a dict::

    {"judges": ["gpt-sim", ...], "generators": ["gpt-sim-writer", ...],
     "source": "prefjudge.testing (SimServer on 127.0.0.1)"}

>>> m = marker(judges=["gpt-sim"], generators=["w1"])
>>> headline(m)
'SIMULATED: the verdicts come from simulated judges (gpt-sim) and the answers from simulated generators (w1) of prefjudge.testing (SimServer on 127.0.0.1), not from real LLMs.'
>>> from_meta({"judges": [{"name": "j", "model": "j", "base_url": "http://127.0.0.1:1/v1"}]}) is None
True
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

#: The key of the marker in provenance (``RankResult.meta``, ``PreferenceSet.provenance``), audit JSON and run.json.
KEY = "simulated"
SOURCE = "prefjudge.testing (SimServer on 127.0.0.1)"
_ROLES = ("judges", "generators")
#: (model, base_url) of every simulated endpoint served in this process -> "judges" or "generators".
_ENDPOINTS: dict[tuple[str, str], str] = {}
_DESCRIPTION_TAG = "prefjudge-simulated: "


def _url(base_url: str | None) -> str:
    return (base_url or "").rstrip("/")


def register_endpoint(model: str, base_url: str, role: str = "judges") -> None:
    """Record that ``model`` at ``base_url`` is a simulated judge (``role="judges"``) or generator,
    served by a simulator this process started. Called by the code that starts it."""
    if role not in _ROLES:
        raise ValueError(f"role must be 'judges' or 'generators', not {role!r}")
    _ENDPOINTS[(model, _url(base_url))] = role


def is_registered(model: Any, base_url: Any) -> bool:
    """Whether ``model`` at ``base_url`` was registered by :func:`register_endpoint`."""
    return isinstance(model, str) and isinstance(base_url, str) and (model, _url(base_url)) in _ENDPOINTS


def marker(judges: Iterable[str] = (), generators: Iterable[str] = (), source: str = SOURCE) -> dict[str, Any] | None:
    """The marker for these simulated judges and generators (None when both are empty)."""
    j, g = _unique(judges), _unique(generators)
    return {"judges": j, "generators": g, "source": source} if j or g else None


def merge(*markers: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """One marker holding every judge and generator of ``markers`` (None when none is simulated)."""
    given = [m for m in markers if isinstance(m, Mapping)]
    if not given:
        return None
    sources = _unique(str(m.get("source") or SOURCE) for m in given)
    return marker([n for m in given for n in m.get("judges") or ()], [n for m in given for n in m.get("generators") or ()],
                  "; ".join(sources))


def from_meta(meta: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The marker of a run from its provenance: its explicit ``simulated`` entry, plus the judges in
    ``meta["judges"]`` that carry ``"simulated": true`` or name a registered simulated endpoint."""
    if not isinstance(meta, Mapping):
        return None
    explicit = meta.get(KEY) if isinstance(meta.get(KEY), Mapping) else None
    judges = [j.get("name") or j.get("model") for j in meta.get("judges") or () if isinstance(j, Mapping)
              and (j.get(KEY) is True or is_registered(j.get("model"), j.get("base_url")))]
    return merge(explicit, marker(judges=[str(n) for n in judges]))


def headline(m: Mapping[str, Any] | None) -> str | None:
    """The sentence an artefact of a simulated run opens with (None when not simulated)."""
    if not m:
        return None
    parts = []
    if m.get("judges"):
        parts.append(f"the verdicts come from simulated judges ({', '.join(m['judges'])})")
    if m.get("generators"):
        parts.append(f"{'the answers' if parts else 'the answers come'} from simulated generators ({', '.join(m['generators'])})")
    return f"SIMULATED: {' and '.join(parts)} of {m.get('source') or SOURCE}, not from real LLMs."


def describe(m: Mapping[str, Any] | None) -> str | None:
    """The mark as a dataset description (``datasets.DatasetInfo.description``): the headline, then a
    line :func:`from_description` reads back, so a bare ``prefs.dataset`` still carries it."""
    import json

    return f"{headline(m)}\n{_DESCRIPTION_TAG}{json.dumps(dict(m))}" if m else None


def from_description(text: Any) -> dict[str, Any] | None:
    """The mark written by :func:`describe` (None for any other description).

    >>> from_description(describe(marker(judges=["j"])))["judges"]
    ['j']
    """
    import json

    if not isinstance(text, str):
        return None
    for line in text.splitlines():
        if line.startswith(_DESCRIPTION_TAG):
            try:
                found = json.loads(line[len(_DESCRIPTION_TAG):])
            except ValueError:
                return None
            return merge(found) if isinstance(found, dict) else None
    return None


def _unique(names: Iterable[Any]) -> list[str]:
    out: list[str] = []
    for n in names:
        if n is not None and str(n) not in out:
            out.append(str(n))
    return out
