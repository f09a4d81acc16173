"""curves.png: validation accuracy per epoch of every trial, beside a heatmap of the grid when there is one."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lightning_fer.tune.results import TrialRecord
    from lightning_fer.tune.spec import SearchSpec


def plot_results(records: list[TrialRecord], spec: SearchSpec, axes: tuple[str, str] | None, out: Path) -> bool:
    """Write the figure (temp name, then rename); False when no trial reported anything."""
    if not any(r.epochs for r in records):
        return False
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, panels = plt.subplots(1, 2 if axes else 1, figsize=(12 if axes else 7, 4.5), squeeze=False)
    curves = panels[0][0]
    for r in records:
        if r.epochs:
            xs = [e["epoch"] for e in r.epochs]
            ys = [100 * e.get("val_acc", float("nan")) for e in r.epochs]
            curves.plot(xs, ys, marker="o", markersize=3, label=r.name.split("_", 2)[-1][:40], alpha=0.8)
    curves.set(xlabel="epoch", ylabel="val accuracy (%)", title=f"{len(records)} trials")
    if len(records) <= 12:
        curves.legend(fontsize=6)
    if axes:
        _heatmap(panels[0][1], records, spec, *axes)
    from lightning_fer.plotting import save_figure

    save_figure(fig, out)
    return True


def _heatmap(ax, records: list[TrialRecord], spec: SearchSpec, rows: str, columns: str) -> None:
    import numpy as np

    from lightning_fer.tune.results import _sort_key, best_record

    row_values = sorted({r.config.get(rows) for r in records}, key=_sort_key)
    col_values = sorted({r.config.get(columns) for r in records}, key=_sort_key)
    acc = np.full((len(row_values), len(col_values)), np.nan)
    for i, rv in enumerate(row_values):
        for j, cv in enumerate(col_values):
            best = best_record([r for r in records if r.config.get(rows) == rv and r.config.get(columns) == cv], spec)
            if best is not None:
                acc[i, j] = 100 * best.best.get("val_acc", np.nan)
                ax.text(j, i, f"{acc[i, j]:.1f}%\n{best.best.get('val_loss', np.nan):.4g}", ha="center",
                        va="center", fontsize=8, color="white")
    image = ax.imshow(acc, cmap="viridis", aspect="auto", vmin=0, vmax=100)
    ax.figure.colorbar(image, ax=ax, label="val accuracy (%)")
    ax.set_xticks(range(len(col_values)), [str(v) for v in col_values])
    ax.set_yticks(range(len(row_values)), [str(v) for v in row_values])
    ax.set(xlabel=columns.rsplit(".", 1)[-1], ylabel=rows.rsplit(".", 1)[-1], title="best epoch: acc / loss")
