"""A local Ray head (cluster/local/ray_up.sh, own ports and temp dir) taking `ray job submit`, then stopped alone.

Run: pytest -m slow tests/test_cluster_ray.py
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
LOCAL = Path(__file__).resolve().parents[1] / "cluster" / "local"
RAY = str(Path(sys.executable).with_name("ray"))
PORTS = {"FER_RAY_PORT": "36379", "FER_RAY_DASHBOARD_PORT": "38265", "FER_RAY_CLIENT_PORT": "30001",
         "FER_RAY_AGENT_PORT": "38266"}


def ray_env(state: Path) -> dict[str, str]:
    return {**os.environ, "FER_RAY_DIR": str(state), "RAY_USAGE_STATS_ENABLED": "0", **PORTS}


def ray_processes(state: Path, leader: str) -> list[str]:
    """Live processes of that head: in the session ray_up.sh created, or naming its temp dir."""
    ps = subprocess.run(["ps", "-eo", "pid=,sid=,stat=,args="], capture_output=True, text=True).stdout
    return [line for line in ps.splitlines()
            if not line.split()[2].startswith("Z") and (line.split()[1] == leader or str(state / "tmp") in line)]


@pytest.fixture(scope="session")
def ray_head() -> Iterator[tuple[str, Path]]:
    """Start the head; yield (dashboard URL, state dir); stop it and check nothing of it is left."""
    state = Path(tempfile.mkdtemp(prefix="fer-ray-test-"))
    env = ray_env(state)
    start = time.monotonic()
    try:
        subprocess.run([str(LOCAL / "ray_up.sh")], env=env, check=True)
    except subprocess.CalledProcessError:
        subprocess.run([str(LOCAL / "ray_down.sh")], env=env, check=False)  # a half-started head is stopped too
        shutil.rmtree(state, ignore_errors=True)
        raise
    print(f"\nRay head up in {time.monotonic() - start:.1f} s")
    leader = (state / "ray.pid").read_text().strip()
    try:
        yield (state / "dashboard_url").read_text().strip(), state
    finally:
        start = time.monotonic()
        subprocess.run([str(LOCAL / "ray_down.sh")], env=env, check=True)
        print(f"Ray head down in {time.monotonic() - start:.1f} s")
        left = ray_processes(state, leader)
        shutil.rmtree(state, ignore_errors=True)
        assert not left, f"processes of the stopped head still running: {left}"


def ray_job_submit(dashboard: str, entrypoint: list[str], working_dir: Path, timeout: float = 600) -> str:
    """`ray job submit` (blocking) an entrypoint; return the job's final status from the job server."""
    from ray.job_submission import JobSubmissionClient

    submission_id = f"fer-test-{uuid.uuid4().hex[:8]}"
    cmd = [RAY, "job", "submit", "--address", dashboard, "--submission-id", submission_id,
           "--working-dir", str(working_dir), "--", *entrypoint]
    subprocess.run(cmd, check=False, timeout=timeout, capture_output=True, text=True)
    return str(JobSubmissionClient(dashboard).get_job_status(submission_id))


def test_up_is_idempotent(ray_head: tuple[str, Path]) -> None:
    dashboard, state = ray_head
    leader = (state / "ray.pid").read_text()
    result = subprocess.run([str(LOCAL / "ray_up.sh")], env=ray_env(state), check=True, capture_output=True, text=True)
    assert "already running" in result.stdout
    assert (state / "ray.pid").read_text() == leader
    assert (state / "address").read_text().strip() == f"127.0.0.1:{PORTS['FER_RAY_PORT']}"


def test_ray_job_submit_succeeds(ray_head: tuple[str, Path], tmp_path: Path) -> None:
    dashboard, _ = ray_head
    out = tmp_path / "result.txt"  # absolute: a relative path would land in the job's copy of the working dir
    (tmp_path / "job").mkdir()
    (tmp_path / "job" / "task.py").write_text(
        "import ray, sys\n"
        "ray.init()\n"
        "square = ray.remote(lambda x: x * x)\n"
        f"open({str(out)!r}, 'w').write(str(sum(ray.get([square.remote(i) for i in range(4)]))))\n"
    )
    start = time.monotonic()
    status = ray_job_submit(dashboard, ["python", "task.py"], tmp_path / "job")
    print(f"ray job submit round trip: {time.monotonic() - start:.1f} s")
    assert status == "SUCCEEDED"
    assert out.read_text() == "14"


def test_failed_job_is_reported(ray_head: tuple[str, Path], tmp_path: Path) -> None:
    dashboard, _ = ray_head
    assert ray_job_submit(dashboard, ["python", "-c", "raise SystemExit(2)"], tmp_path) == "FAILED"


def test_ray_job_submit_fer_fit(ray_head: tuple[str, Path], small_prepared: Path, tmp_path: Path) -> None:
    """A short `fer fit` through the job server: absolute paths everywhere, the checkpoint lands in our run dir."""
    dashboard, _ = ray_head
    repo = Path(__file__).resolve().parents[1]
    run = tmp_path / "run"
    (tmp_path / "job").mkdir()  # a small working dir: Ray uploads it; the repo (with .venv) would be gigabytes
    entrypoint = [sys.executable, "-m", "lightning_fer.cli", "fit", "--config", str(repo / "configs" / "demo.yaml"),
                  "--wandb", "false", "--data.data_dir", str(small_prepared), "--data.batch_size", "8",
                  "--data.eval_batch_size", "32", "--trainer.accelerator", "cpu", "--trainer.max_epochs", "1",
                  "--trainer.limit_train_batches", "2", "--trainer.limit_val_batches", "1",
                  "--trainer.enable_progress_bar", "false", "--trainer.default_root_dir", str(run)]
    start = time.monotonic()
    status = ray_job_submit(dashboard, entrypoint, tmp_path / "job", timeout=900)
    print(f"ray job submit fer fit (1 epoch of 2 steps): {time.monotonic() - start:.1f} s")
    assert status == "SUCCEEDED"
    import torch

    checkpoint = torch.load(run / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)
    assert checkpoint["global_step"] == 2
    assert (run / "checkpoints" / "best.ckpt").is_file() and (run / "metrics.csv").is_file()
