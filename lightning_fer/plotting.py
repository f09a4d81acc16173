"""Shared matplotlib plumbing: the headless backend and atomic PNG writes (no half-written plot ever exists)."""

from __future__ import annotations

from pathlib import Path

from lightning_fer.atomic_write import atomic_path


def pyplot():
    """``matplotlib.pyplot`` on the headless Agg backend (clusters and CI have no display): the one place the
    backend is chosen; every plot of the project gets pyplot here."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, path: Path, dpi: int = 120) -> Path:
    """tight_layout, save to a temporary name beside ``path``, close the figure, rename into place."""
    plt = pyplot()

    fig.tight_layout()
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=dpi)
    finally:
        plt.close(fig)
    return path
