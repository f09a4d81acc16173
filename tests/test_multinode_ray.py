"""Ray across two real hosts (cluster/local/multinode_up.sh: head on fer-node1, worker on fer-node2): the nodes,
`ray job submit` of a real `fer fit`, a `fer tune` grid placing trials on both hosts, a worker host dying during a
Tune experiment, and the Ray-on-SLURM template (cluster/slurm/ray_cluster.sbatch) as a 2-node SLURM job.

Each Ray node offers 1 CPU (FER_MN_RAY_CPUS=1 in the fixture) and a trial takes 1, so two concurrent trials can
only run one per host. Run: pytest -m multinode tests/test_multinode_ray.py (as root)
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from lightning_fer.cli import main
from tests.multinode import Cluster, cmdline, wait_until
from tests.test_cluster_ray import ray_job_submit

pytestmark = pytest.mark.multinode
REPO = Path(__file__).resolve().parents[1]
PY = sys.executable
# per trial: 1 epoch of 2 steps, validation on 2 batches
TRIAL_ARGS = ["--wandb", "false", "--data.eval_batch_size", "8", "--trainer.max_epochs", "1",
              "--trainer.limit_train_batches", "2", "--trainer.limit_val_batches", "2",
              "--trainer.num_sanity_val_steps", "0", "--trainer.enable_progress_bar", "false"]


def grid_spec(path: Path, max_failures: int = 2) -> Path:
    """A 2-trial grid (batch 4 and 8 x 1 epoch, so it has the paper-style table), 1 CPU per trial."""
    spec = {"metric": "val_loss", "mode": "min", "num_samples": 1, "max_failures": max_failures,
            "resources": {"cpu": 1, "gpu": 0},
            "space": {"data.batch_size": {"grid": [4, 8]}, "trainer.max_epochs": {"grid": [1]}}}
    path.write_text(yaml.safe_dump(spec))
    return path


def tune_command(data: Path, spec: Path, storage: Path, name: str) -> list[str]:
    return [PY, "-m", "lightning_fer.cli", "tune", "--config", str(REPO / "configs" / "demo.yaml"), "--search",
            str(spec), "--storage", str(storage), "--name", name, "--", *TRIAL_ARGS, "--data.data_dir", str(data)]


def trials(exp: Path) -> list[dict]:
    with open(exp / "trials.csv") as f:
        return list(csv.DictReader(f))


def test_ray_has_both_nodes_and_takes_a_fer_fit_job(multinode_cluster: Cluster, small_prepared: Path,
                                                    tmp_path: Path) -> None:
    code = "import json, ray; ray.init(); print(json.dumps(sorted(n['NodeManagerAddress'] for n in ray.nodes() " \
           "if n['Alive'])))"
    proc = multinode_cluster.on_node(1, [PY, "-c", code], env={"RAY_ADDRESS": multinode_cluster.gcs},
                                     capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == [multinode_cluster.addr(1), multinode_cluster.addr(2)]

    run = tmp_path / "run"
    (tmp_path / "job").mkdir()
    entrypoint = [PY, "-m", "lightning_fer.cli", "fit", "--config", str(REPO / "configs" / "demo.yaml"),
                  *TRIAL_ARGS, "--data.batch_size", "8", "--data.data_dir", str(small_prepared),
                  "--trainer.accelerator", "cpu", "--trainer.default_root_dir", str(run)]
    start = time.monotonic()
    status = ray_job_submit(multinode_cluster.dashboard, entrypoint, tmp_path / "job", timeout=900)
    print(f"\nray job submit fer fit to the 2-host cluster's job server: {time.monotonic() - start:.1f} s")
    assert status == "SUCCEEDED"
    import torch

    checkpoint = torch.load(run / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)
    assert checkpoint["global_step"] == 2


def test_fer_tune_places_trials_on_both_hosts(multinode_cluster: Cluster, small_prepared: Path,
                                              tmp_path: Path) -> None:
    start = time.monotonic()
    proc = multinode_cluster.on_node(
        1, tune_command(small_prepared, grid_spec(tmp_path / "grid.yaml"), tmp_path / "runs", "spread"),
        env={"RAY_ADDRESS": multinode_cluster.gcs}, cwd=REPO, capture_output=True, text=True, timeout=900)
    print(f"\nfer tune, 2 trials on a 2-host Ray: {time.monotonic() - start:.1f} s")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    exp = tmp_path / "runs" / "spread"
    rows = trials(exp)
    assert sorted(r["data.batch_size"] for r in rows) == ["4", "8"]
    assert all(r["status"] == "completed" for r in rows), rows
    assert sorted(r["node"] for r in rows) == [multinode_cluster.addr(1), multinode_cluster.addr(2)], rows
    for table in ("table.md", "table.csv", "trials.md", "results.md", "best.yaml"):
        assert (exp / table).is_file(), table
    assert "batch_size=8" in (exp / "table.md").read_text()


def test_worker_host_dies_during_tune_and_its_trial_is_retried(multinode_cluster: Cluster, small_prepared: Path,
                                                               tmp_path: Path) -> None:
    exp = tmp_path / "runs" / "hostfail"
    start = time.monotonic()
    driver = subprocess.Popen(
        [str(multinode_cluster.local / "on_node.sh"), "1",
         *tune_command(small_prepared, grid_spec(tmp_path / "grid.yaml"), tmp_path / "runs", "hostfail")],
        env={**multinode_cluster.env, "RAY_ADDRESS": multinode_cluster.gcs}, cwd=REPO,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        # a trial is training on host 2 (its Tune worker process runs there)
        wait_until(lambda: any("ray::" in cmd and "train" in cmd.lower()
                               for cmd in map(cmdline, multinode_cluster.host_pids(2))), 300, "a trial on fer-node2")
        killed = multinode_cluster.fail_host(2)  # the worker host dies: raylet, workers, the trial
        assert killed
        printed, _ = driver.communicate(timeout=900)
    finally:
        driver.kill()
        multinode_cluster.up_again()  # host 2 back (its Ray worker and slurmd) for the tests that follow
    print(f"\nTune with a worker host killed mid-trial: {time.monotonic() - start:.1f} s")
    assert driver.returncode == 0, printed[-4000:]
    rows = trials(exp)
    assert sorted(r["data.batch_size"] for r in rows) == ["4", "8"]
    assert all(r["status"] == "completed" and r["epochs_run"] == "1" for r in rows), rows
    # the trial that lost its host finished on the one left (retried by FailureConfig)
    assert {r["node"] for r in rows} == {multinode_cluster.addr(1)}, rows


def test_ray_on_slurm_template_spans_both_hosts(multinode_cluster: Cluster, small_prepared: Path,
                                                tmp_path: Path) -> None:
    logs, storage = tmp_path / "logs", tmp_path / "runs"
    start = time.monotonic()
    with contextlib.redirect_stdout(io.StringIO()) as out:
        rc = main(["submit", "tune", "--config", str(REPO / "configs" / "demo.yaml"), "--search",
                   str(grid_spec(tmp_path / "grid.yaml")), "--nodes", "2", "--cpus-per-task", "1", "--mem", "4G",
                   "--time", "00:20:00", "--job-name", "fer-raytune", "--log-dir", str(logs), "--wait", "--",
                   "--storage", str(storage), "--name", "slurm", "--", *TRIAL_ARGS,
                   "--data.data_dir", str(small_prepared)])
    printed = out.getvalue()
    print(f"\nRay-on-SLURM 2-node job with fer tune: {time.monotonic() - start:.1f} s")
    job_id = printed.split("submitted tune job ")[1].split()[0]
    log = (logs / f"fer-raytune-{job_id}.out").read_text()
    assert rc == 0, printed + log[-4000:]
    assert f"Ray head fer-node1 ({multinode_cluster.addr(1)}:" in log and "2 node(s)" in log, log[-4000:]
    rows = trials(storage / "slurm")
    assert sorted(r["node"] for r in rows) == [multinode_cluster.addr(1), multinode_cluster.addr(2)], rows
    time.sleep(2)  # SLURM ends the Ray steps when the batch script exits
    leftover = subprocess.run(["pgrep", "-f", f"/tmp/ray-{job_id}"], capture_output=True, text=True).stdout
    assert not leftover.strip(), f"Ray processes of job {job_id} survived it: {leftover}"

