"""One finished (or stopped) trial and the picks made over trials: shared by the tables (results.py) and the
figure (plot.py), so neither imports the other's internals."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lightning_fer.run_dirs import RunFolder
from lightning_fer.tune.spec import SearchSpec


@dataclass
class TrialRecord:
    name: str
    path: Path
    config: dict[str, Any]
    epochs: list[dict]
    max_epochs: int | None
    protocol: str
    error: str | None = None
    best: dict = field(default_factory=dict)  # the best epoch's report
    node: str = ""  # the Ray node (IP) of the trial's last report: where it ran, or was retried, to the end

    @property
    def status(self) -> str:
        if self.error:
            return "error"
        if self.max_epochs and len(self.epochs) < self.max_epochs:
            return "stopped early"
        return "completed"

    @property
    def checkpoint(self) -> Path:
        return RunFolder(self.path).best_checkpoint


def best_record(records: list[TrialRecord], spec: SearchSpec) -> TrialRecord | None:
    scored = [r for r in records if r.best]
    sign = 1 if spec.mode == "min" else -1
    return min(scored, key=lambda r: sign * r.best[spec.metric]) if scored else None


@dataclass(frozen=True)
class BestGrid:
    """The best trial (by the spec's metric) of every (rows value, columns value) combination of a grid search."""

    rows: str
    columns: str
    row_values: list[Any]
    col_values: list[Any]
    best: list[list[TrialRecord | None]]  # best[i][j] for row_values[i], col_values[j]


def best_grid(records: list[TrialRecord], spec: SearchSpec, rows: str, columns: str) -> BestGrid:
    row_values = sorted({r.config.get(rows) for r in records}, key=_sort_key)
    col_values = sorted({r.config.get(columns) for r in records}, key=_sort_key)
    best = [[best_record([r for r in records if r.config.get(rows) == rv and r.config.get(columns) == cv], spec)
             for cv in col_values] for rv in row_values]
    return BestGrid(rows, columns, row_values, col_values, best)


def _sort_key(value: Any) -> tuple:
    """Numbers in order first, then everything else by its text (grid values may mix types)."""
    return (0, value, "") if isinstance(value, int | float) else (1, 0, str(value))
