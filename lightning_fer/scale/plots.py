"""The study's four figures (PNG), from the report table: one function per figure, each returns its path.

Matplotlib with the Agg backend (lightning_fer.plotting.pyplot: no display on clusters). Global batch axes are
log2, as in Goyal et al.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from lightning_fer.plotting import pyplot, save_figure

plt = pyplot()


def _series(table: pd.DataFrame, by: list[str]):
    for key, group in table.groupby(by, sort=True):
        label = " / ".join(str(k) for k in (key if isinstance(key, tuple) else (key,)))
        yield label, group


def _finish(fig, ax, path: Path, xlabel: str, ylabel: str, title: str, legend: str | None) -> Path:
    """The labels, grid and legend every figure has, then the atomic save."""
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    if legend is not None:
        ax.legend(title=legend, fontsize=8)
    return save_figure(fig, path)


def accuracy_vs_batch(table: pd.DataFrame, path: Path, title: str) -> Path:
    """Best val accuracy (solid) and accuracy at the lowest val loss (dashed) vs global batch, per LR rule."""
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for label, group in _series(table.dropna(subset=["best_val_acc"]), ["lr_rule", "optimizer"]):
        group = group.groupby("global_batch", as_index=False)["best_val_acc"].max()
        ax.plot(group["global_batch"], group["best_val_acc"] * 100, marker="o", label=label)
    ax.set_xscale("log", base=2)
    return _finish(fig, ax, path, "global batch (per device x devices x nodes x accumulation)",
                   "best validation accuracy (%)", f"{title}: accuracy vs global batch", "LR rule / optimizer")


def throughput_vs_devices(table: pd.DataFrame, path: Path, title: str) -> Path:
    """Training img/s vs devices (world size) per per-device batch, with the ideal linear line from the smallest."""
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for label, group in _series(table.dropna(subset=["throughput"]), ["sweep", "per_device_batch", "accumulation"]):
        group = group.groupby("world_size", as_index=False)["throughput"].mean().sort_values("world_size")
        line = ax.plot(group["world_size"], group["throughput"], marker="o", label=f"{label}")
        if len(group) > 1:
            base = group.iloc[0]
            ax.plot(group["world_size"], base["throughput"] / base["world_size"] * group["world_size"], ls="--",
                    color=line[0].get_color(), alpha=0.6, label=f"{label} ideal (linear)")
    ax.xaxis.get_major_locator().set_params(integer=True)
    return _finish(fig, ax, path, "devices (x nodes)", "training throughput (img/s)",
                   f"{title}: throughput vs devices", "sweep / per device / accum")


def efficiency(table: pd.DataFrame, path: Path, title: str) -> Path:
    """Scaling efficiency = img/s per device relative to the smallest world size of the same per-device batch."""
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    data = table.dropna(subset=["scaling_efficiency"])
    for label, group in _series(data, ["sweep", "per_device_batch", "accumulation"]):
        group = group.groupby("world_size", as_index=False)["scaling_efficiency"].mean().sort_values("world_size")
        ax.plot(group["world_size"], group["scaling_efficiency"] * 100, marker="o", label=f"{label}")
    if data.empty:
        ax.text(0.5, 0.5, "no per-device batch measured at several device counts", ha="center",
                transform=ax.transAxes)
    ax.axhline(100, color="gray", ls="--", lw=1)
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.set_ylim(bottom=0)
    return _finish(fig, ax, path, "devices (x nodes)", "scaling efficiency (%)", f"{title}: scaling efficiency",
                   None if data.empty else "sweep / per device / accum")


def time_to_target(table: pd.DataFrame, path: Path, title: str, target: float | None) -> Path:
    """Seconds to reach the target val accuracy vs global batch; points that never reached it marked x at the top."""
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    reached = table.dropna(subset=["seconds_to_target"])
    top = float(table["wall_seconds"].max()) if table["wall_seconds"].notna().any() else 1.0
    for label, group in _series(table, ["lr_rule", "optimizer"]):
        ok = group.dropna(subset=["seconds_to_target"]).sort_values("global_batch")
        line = ax.plot(ok["global_batch"], ok["seconds_to_target"], marker="o", label=label)
        missed = group[group["seconds_to_target"].isna()]
        if len(missed):
            ax.scatter(missed["global_batch"], [top] * len(missed), marker="x", color=line[0].get_color())
    ax.set_xscale("log", base=2)
    target_text = f"{target * 100:.1f}%" if target is not None else "none set"
    note = "" if len(reached) else " (not reached)"
    return _finish(fig, ax, path, "global batch", "wall seconds to target",
                   f"{title}: time to val acc {target_text}{note}", "LR rule / optimizer (x: not reached)")
