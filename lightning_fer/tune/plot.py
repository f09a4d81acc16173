"""curves.png: validation accuracy per epoch of every trial, beside a heatmap of the grid when there is one."""

from __future__ import annotations

from pathlib import Path

from lightning_fer.tune.records import BestGrid, TrialRecord, best_grid
from lightning_fer.tune.spec import SearchSpec


def plot_results(records: list[TrialRecord], spec: SearchSpec, axes: tuple[str, str] | None, out: Path) -> bool:
    """Write the figure (temp name, then rename); False when no trial reported anything."""
    if not any(r.epochs for r in records):
        return False
    from lightning_fer.plotting import pyplot

    plt = pyplot()

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
        _heatmap(panels[0][1], best_grid(records, spec, *axes))
    from lightning_fer.plotting import save_figure

    save_figure(fig, out)
    return True


def _heatmap(ax, grid: BestGrid) -> None:
    import numpy as np

    acc = np.full((len(grid.row_values), len(grid.col_values)), np.nan)
    for i, row in enumerate(grid.best):
        for j, best in enumerate(row):
            if best is not None:
                acc[i, j] = 100 * best.best.get("val_acc", np.nan)
                ax.text(j, i, f"{acc[i, j]:.1f}%\n{best.best.get('val_loss', np.nan):.4g}", ha="center",
                        va="center", fontsize=8, color="white")
    image = ax.imshow(acc, cmap="viridis", aspect="auto", vmin=0, vmax=100)
    ax.figure.colorbar(image, ax=ax, label="val accuracy (%)")
    ax.set_xticks(range(len(grid.col_values)), [str(v) for v in grid.col_values])
    ax.set_yticks(range(len(grid.row_values)), [str(v) for v in grid.row_values])
    ax.set(xlabel=grid.columns.rsplit(".", 1)[-1], ylabel=grid.rows.rsplit(".", 1)[-1],
           title="best epoch: acc / loss")
