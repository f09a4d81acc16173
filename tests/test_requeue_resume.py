"""A SLURM requeue in the middle of an epoch reproduces the uninterrupted run.

`fer fit` runs as a subprocess under SLURM's environment variables, so the project's requeue
callback (lightning_fer.callbacks.SlurmRequeue) is active. When global step 4 is reached (epoch 1, after its first of 3
batches) :class:`SignalAtStep` sends the process a real SIGUSR1, as `#SBATCH --signal=SIGUSR1@90` does; the
next step's batch is drawn, the callback writes hpc_ckpt_1.ckpt before training on it (its `scontrol requeue`
fails harmlessly here), then the process is killed, as the requeue kills the job. `--ckpt_path last` resumes from that
checkpoint: Lightning redoes the interrupted step, the loader skips only the batch trained on and EpochSeed
reseeds per step, so the final weights equal the uninterrupted run's. (The real sbatch requeue runs in
tests/test_cluster_train.py.) Slow: three CPU fits in subprocesses.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow
STEPS, SIGNAL_AT = 3, 4  # 3 batches per epoch; the signal as epoch 1's second batch starts
ARGS = ["--config", "configs/demo.yaml", "--wandb", "false", "--data.batch_size", "8", "--data.eval_batch_size",
        "32", "--trainer.max_epochs", "2", "--trainer.limit_train_batches", str(STEPS),
        "--trainer.limit_val_batches", "1", "--trainer.enable_progress_bar", "false"]


class SignalAtStep(pl.Callback):
    """SIGUSR1 to this process as global step $FER_SIGNAL_AT_STEP is reached (SLURM's warning lands between
    steps or inside one: the requeue callback acts on it when the next step starts, on every rank at once);
    at that step's start note what the training loader yielded; once hpc_ckpt_1.ckpt is written, SIGKILL,
    as SLURM ends a requeued job."""

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx: int) -> None:
        at = int(os.environ.get("FER_SIGNAL_AT_STEP", "-1"))
        if trainer.global_step == at:
            os.kill(os.getpid(), signal.SIGUSR1)
        elif trainer.global_step > at >= 0 and (Path(trainer.default_root_dir) / "hpc_ckpt_1.ckpt").is_file():
            os.kill(os.getpid(), signal.SIGKILL)

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx: int) -> None:
        if trainer.global_step != int(os.environ.get("FER_SIGNAL_AT_STEP", "-1")):
            return
        loader = trainer.train_dataloader
        note = {"batch_idx": batch_idx, "yielded": loader.progress.yielded, "state": loader.state_dict()}
        (Path(trainer.default_root_dir) / "signal.json").write_text(json.dumps(note))


def fer_fit(data: Path, run: Path, *extra: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "lightning_fer.cli", "fit", *ARGS, "--data.data_dir", str(data),
           "--trainer.default_root_dir", str(run), "--trainer.callbacks+=tests.test_requeue_resume.SignalAtStep",
           *extra]
    return subprocess.run(cmd, cwd=REPO, env={**os.environ, **(env or {})}, capture_output=True, text=True,
                          timeout=1200)


def test_requeue_mid_epoch_ends_with_the_uninterrupted_weights(small_prepared: Path, tmp_path: Path) -> None:
    straight, requeued = tmp_path / "straight", tmp_path / "requeued"
    done = fer_fit(small_prepared, straight)
    assert done.returncode == 0, done.stderr[-3000:]

    slurm = {"SLURM_JOB_ID": "999999991", "SLURM_JOB_NAME": "fer-requeue-test", "SLURM_NTASKS": "1",
             "SLURM_PROCID": "0", "SLURM_LOCALID": "0", "SLURM_NODEID": "0", "SLURM_NODELIST": "localhost",
             "FER_SIGNAL_AT_STEP": str(SIGNAL_AT)}
    killed = fer_fit(small_prepared, requeued, env=slurm)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    hpc = requeued / "hpc_ckpt_1.ckpt"
    assert hpc.is_file(), killed.stderr[-3000:]
    note = json.loads((requeued / "signal.json").read_text())
    # The loader had yielded epoch 1's second batch; the loop had trained on one: the state counts that one
    # (Lightning redoes the interrupted step). Lightning prefetches no batch ahead for loaders with a len().
    assert note["batch_idx"] == SIGNAL_AT - STEPS == 1
    assert note["yielded"] == 2 and note["state"] == {"epoch": 1, "batches": 1, "seed": 0}
    saved = torch.load(hpc, map_location="cpu", weights_only=False)
    assert saved["global_step"] == SIGNAL_AT
    assert saved["loops"]["fit_loop"]["state_dict"]["combined_loader"] == [note["state"]]

    resumed = fer_fit(small_prepared, requeued, "--ckpt_path", "last")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "resuming from" in resumed.stdout and "hpc_ckpt_1.ckpt" in resumed.stdout
    a = torch.load(straight / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)
    b = torch.load(requeued / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)
    assert a["global_step"] == b["global_step"] == 2 * STEPS
    for name, tensor in a["state_dict"].items():
        torch.testing.assert_close(b["state_dict"][name], tensor, rtol=0, atol=1e-6, msg=name)
    moment_a = a["optimizer_states"][0]["state"][0]["exp_avg"]
    torch.testing.assert_close(b["optimizer_states"][0]["state"][0]["exp_avg"], moment_a, rtol=0, atol=1e-6)
