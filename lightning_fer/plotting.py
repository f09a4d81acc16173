"""Shared matplotlib plumbing: the headless backend and atomic PNG writes (no half-written plot ever exists)."""

from __future__ import annotations

import os
from pathlib import Path


def save_figure(fig, path: Path, dpi: int = 120) -> Path:
    """tight_layout, save to a temporary name beside ``path``, close the figure, rename into place."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    tmp = path.with_name(f".{path.stem}.tmp.png")
    fig.savefig(tmp, dpi=dpi)
    plt.close(fig)
    os.replace(tmp, path)
    return path
