"""What each curation step removed and why: the record that goes into the dataset card."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd


@dataclass
class StepReport:
    """One curation step: how many rows it saw, removed and kept, and the reason in plain words."""

    step: str
    reason: str
    before: int
    removed: int
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def kept(self) -> int:
        return self.before - self.removed


@dataclass
class CurationReport:
    """Every step in order, the removed rows (id, step, reason) and the length-balance figures."""

    steps: list[StepReport] = field(default_factory=list)
    removed_rows: list[dict[str, Any]] = field(default_factory=list)
    length_balance: dict[str, Any] | None = None

    def record(self, step: str, reason: str, before: pd.DataFrame, drop: pd.Series, why: list[str] | None = None,
               **details: Any) -> pd.DataFrame:
        """Log a step that drops the rows where the boolean Series ``drop`` is True; return the rest."""
        gone = before[drop.to_numpy()]
        whys = why if why is not None else [reason] * len(before)
        for rid, w in zip(gone["id"], [w for w, d in zip(whys, drop) if d]):
            self.removed_rows.append({"id": rid, "step": step, "reason": w})
        self.steps.append(StepReport(step, reason, len(before), int(drop.sum()), details))
        return before[~drop.to_numpy()].reset_index(drop=True)

    @property
    def n_input(self) -> int:
        return self.steps[0].before if self.steps else 0

    @property
    def n_output(self) -> int:
        return self.steps[-1].kept if self.steps else 0

    def removed(self) -> pd.DataFrame:
        """The removed rows as a DataFrame with columns id, step, reason."""
        import pandas as pd

        return pd.DataFrame(self.removed_rows, columns=["id", "step", "reason"])

    def to_dict(self) -> dict[str, Any]:
        return {
            "n_input": self.n_input,
            "n_output": self.n_output,
            "steps": [asdict(s) | {"kept": s.kept} for s in self.steps],
            "length_balance": self.length_balance,
        }

    def to_markdown(self) -> str:
        """A Markdown table: step, reason, rows before, removed, kept (plus length balance when run)."""
        lines = ["| step | reason | rows in | removed | kept |", "|---|---|---:|---:|---:|"]
        for s in self.steps:
            lines.append(f"| {s.step} | {_cell(s.reason)} | {s.before} | {s.removed} | {s.kept} |")
        out = "\n".join(lines)
        lb = self.length_balance
        if lb:
            out += (
                f"\n\nLength balance ({lb['mode']}): share of pairs whose chosen answer is longer "
                f"{_pct(lb['before'])} before (n={lb['n_before']}), {_pct(lb['after'])} after (n={lb['n_after']})."
            )
        return out

    def __str__(self) -> str:
        return self.to_markdown()


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.1f}%"
