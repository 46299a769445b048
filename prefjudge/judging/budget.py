"""Budgets: ``max_cost_usd=`` and ``max_calls=`` for a run, or per judge (a mapping name -> limit).

The engine asks the budget before every call that is not already in the store (a call read from
the store is free and never counted). A call is made only when it fits: its cost is estimated
before the call, from the rendered messages (characters / 4 as the prompt tokens: no tokenizer is
loaded) plus the call's ``max_tokens`` as the completion, at the model's price in litellm's price
map (:mod:`prefjudge.backends.pricing`). Calls in flight hold their estimate until they finish, then
count at their real cost (from the usage the provider returned). So a run stops *before* a limit
would be crossed, as far as the prompt estimate holds (it errs high for English text; a prompt
whose real token count is above characters / 4 could overshoot by that difference).

A call that fits only once the calls in flight have settled waits for them. A call that does not
fit even then is refused and closes its scope (the run, or that judge): every later call of the
scope that is not in the store is refused with the same reason (``"budget: max_calls=100"``). Refused calls are listed in the
result (``RankResult.not_judged``); a rerun with a higher budget reads every finished call from the
store and makes only the missing ones.

A call counts against ``max_calls`` when it is sent (re-asks count; retries of one call do not; a
call that fails for good counts). A failed call costs nothing (no usage), a call cancelled in flight
its estimate.

An endpoint without a known price (a self-hosted server, a model not in the price map) cannot be
held to a cost budget: the run refuses to start (ConfigError naming the judge) rather than spend
without a bound.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from prefjudge.errors import ConfigError, InputError

if TYPE_CHECKING:
    from prefjudge.backends.endpoint import EndpointSettings as Caller

CHARS_PER_TOKEN = 4
"""Characters per prompt token in the cost estimate (no tokenizer)."""


@dataclass
class _Scope:
    """One limit holder: the run, or one judge."""

    label: str
    max_cost_usd: float | None = None
    max_calls: int | None = None
    spent_usd: float = 0.0
    calls: int = 0
    held_usd: float = 0.0
    held_calls: int = 0
    closed: str | None = None
    reasons: dict[str, str] = field(default_factory=dict)

    def refusal(self, est: float | None) -> str | bool:
        """The reason this call may never be made (the scope closes), True when it fits only once
        calls in flight have settled (wait), False when it fits now."""
        if self.closed is not None:
            return self.closed
        if self.max_calls is not None:
            if self.calls + 1 > self.max_calls:
                return self.reasons["calls"]
            if self.calls + self.held_calls + 1 > self.max_calls:
                return True
        if self.max_cost_usd is not None:
            if self.spent_usd + (est or 0.0) > self.max_cost_usd:
                return self.reasons["cost"]
            if self.spent_usd + self.held_usd + (est or 0.0) > self.max_cost_usd:
                return True
        return False


@dataclass
class Reservation:
    """What one call in flight holds: its scopes and its estimated cost."""

    scopes: list[_Scope]
    est_usd: float


def _limit(value: Any, name: str, kind: type) -> tuple[Any, dict[str, Any]]:
    """(run limit, per-judge limits) of a ``max_cost_usd``/``max_calls`` argument."""
    if value is None:
        return None, {}
    items = value.items() if isinstance(value, Mapping) else [(None, value)]
    out: dict[Any, Any] = {}
    for judge, v in items:
        ok = isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v >= 0
        if kind is int:
            ok = ok and float(v).is_integer()
        if not ok:
            where = name if judge is None else f"{name}[{judge!r}]"
            what = "a whole number >= 0" if kind is int else "a finite number of dollars >= 0"
            raise InputError(f"{where} must be {what}, not {v!r}", field=name)
        if judge is not None and not isinstance(judge, str):
            raise InputError(f"{name} keys must be judge names (strings), not {judge!r}", field=name)
        out[judge] = kind(v)
    if isinstance(value, Mapping):
        return None, out
    return out[None], {}


def _fmt(x: float) -> str:
    return f"{x:g}"


class Budget:
    """The limits of one run: ``max_cost_usd`` and ``max_calls``, each a number for the whole run or
    a mapping judge name -> limit. Build it with :meth:`for_judges`, which checks the names and the
    prices before the first call."""

    def __init__(self, max_cost_usd: float | Mapping[str, float] | None = None,
                 max_calls: int | Mapping[str, int] | None = None):
        run_cost, judge_cost = _limit(max_cost_usd, "max_cost_usd", float)
        run_calls, judge_calls = _limit(max_calls, "max_calls", int)
        self.max_cost_usd, self.max_calls = max_cost_usd, max_calls
        self.run = _Scope("run", run_cost, run_calls, reasons={
            "cost": f"budget: max_cost_usd={_fmt(run_cost)}" if run_cost is not None else "",
            "calls": f"budget: max_calls={run_calls}" if run_calls is not None else ""})
        self.judges: dict[str, _Scope] = {}
        for name in set(judge_cost) | set(judge_calls):
            cost, calls = judge_cost.get(name), judge_calls.get(name)
            self.judges[name] = _Scope(name, cost, calls, reasons={
                "cost": f"budget: max_cost_usd[{name!r}]={_fmt(cost)}" if cost is not None else "",
                "calls": f"budget: max_calls[{name!r}]={calls}" if calls is not None else ""})
        self._prices: dict[int, tuple[Caller, bool]] = {}
        self._changed: Any = None  # an asyncio.Event set when a call settles (calls waiting for room)

    @property
    def active(self) -> bool:
        return bool(self.judges) or self.run.max_cost_usd is not None or self.run.max_calls is not None

    @classmethod
    def for_judges(cls, judges: Sequence[Any], max_cost_usd: float | Mapping[str, float] | None = None,
                   max_calls: int | Mapping[str, int] | None = None) -> Budget | None:
        """The budget of a run over ``judges`` (None without limits). InputError for a limit naming
        no judge of the run; ConfigError for a cost limit on a judge whose price is unknown."""
        budget = cls(max_cost_usd, max_calls)
        if not budget.active:
            return None
        budget.check(judges)
        return budget

    def check(self, judges: Sequence[Any]) -> None:
        names = [j.name for j in judges]
        for arg, given in (("max_cost_usd", self.max_cost_usd), ("max_calls", self.max_calls)):
            if isinstance(given, Mapping):
                unknown = sorted(set(given) - set(names))
                if unknown:
                    raise InputError(f"{arg} names {unknown}, which are not judges of this run; the judges are {names}",
                                     field=arg)
        for judge in judges:
            costed = self.run.max_cost_usd is not None or (
                judge.name in self.judges and self.judges[judge.name].max_cost_usd is not None)
            if costed and not self.priced(judge):
                which = ("max_cost_usd" if self.run.max_cost_usd is not None else f"max_cost_usd[{judge.name!r}]")
                where = judge.endpoint.where()
                raise ConfigError(
                    f"judge {judge.name!r} (model {judge.model!r}" + (f" at {where}" if where else "") + ") has no known "
                    f"price, so {which} cannot be enforced. Either judge with a model whose price prefjudge knows "
                    "(hosted APIs in litellm's price map: backend 'litellm', or 'openai' without base_url), or drop "
                    f"{which} (max_calls= caps the number of calls without a price). Nothing was called.")

    def priced(self, judge: Caller) -> bool:
        """Whether the cost of the judge's calls can be known before they are made."""
        known = self._prices.get(id(judge))
        if known is None or known[0] is not judge:
            ok = judge.endpoint.priced and judge.endpoint.call_cost(1, 1) is not None
            known = self._prices[id(judge)] = (judge, ok)
        return known[1]

    def estimate(self, judge: Caller, prompt_chars: int, max_tokens: int) -> float | None:
        """Dollars one call may cost: prompt characters / 4 as tokens in, ``max_tokens`` out; None if unpriced."""
        if not self.priced(judge):
            return None
        return judge.endpoint.call_cost(-(-prompt_chars // CHARS_PER_TOKEN), max_tokens)

    async def reserve(self, judge: Caller, prompt_chars: int, max_tokens: int) -> Reservation | str:
        """Hold room for one call, or the reason it may not be made (its scope is closed from then on).

        A call that would fit once the calls in flight have finished (their estimates are held)
        waits for them, so the limit is used up, not merely approached."""
        import asyncio

        scopes = [self.run] + ([self.judges[judge.name]] if judge.name in self.judges else [])
        costed = any(s.max_cost_usd is not None for s in scopes)
        est = self.estimate(judge, prompt_chars, max_tokens) if costed else 0.0
        while True:
            answers = [(s, s.refusal(est)) for s in scopes]
            closed = next(((s, a) for s, a in answers if isinstance(a, str)), None)
            if closed is not None:
                closed[0].closed = closed[1]
                return closed[1]
            if not any(a is True for _, a in answers):
                break
            if self._changed is None:
                self._changed = asyncio.Event()
            await self._changed.wait()
        for scope in scopes:
            scope.held_usd += est or 0.0
            scope.held_calls += 1
        return Reservation(scopes, est or 0.0)

    def settle(self, reservation: Reservation, cost: float | None, *, sent: bool = True) -> None:
        """Replace a call's hold by what it cost (``cost`` None: a failed or unpriced call, 0), and
        wake the calls waiting for room."""
        for scope in reservation.scopes:
            scope.held_usd -= reservation.est_usd
            scope.held_calls -= 1
            if sent:
                scope.calls += 1
                scope.spent_usd += cost if cost is not None else 0.0
        changed, self._changed = self._changed, None
        if changed is not None:
            changed.set()

    def exhausted(self, names: Sequence[Any]) -> bool:
        """Whether no more calls may be made for any of ``names`` (the run's scope, or each judge's, is closed)."""
        return self.run.closed is not None or all(n in self.judges and self.judges[n].closed for n in names)

    @property
    def stopped(self) -> list[str]:
        """The reasons calls were refused (one per closed scope)."""
        return [s.closed for s in [self.run, *self.judges.values()] if s.closed]

    def summary(self) -> dict[str, Any]:
        """For ``RankResult.meta["budget"]``: the limits, what was spent and made, and why it stopped."""
        return {
            "max_cost_usd": self.max_cost_usd if not isinstance(self.max_cost_usd, Mapping) else dict(self.max_cost_usd),
            "max_calls": self.max_calls if not isinstance(self.max_calls, Mapping) else dict(self.max_calls),
            "estimate": f"prompt characters / {CHARS_PER_TOKEN} + max_tokens at litellm's price map",
            "spent_usd": self.run.spent_usd, "calls_made": self.run.calls,
            "per_judge": {n: {"spent_usd": s.spent_usd, "calls_made": s.calls, "stopped": s.closed}
                          for n, s in sorted(self.judges.items())},
            "stopped": self.stopped,
        }
