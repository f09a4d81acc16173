"""`fer submit train` on a real local SLURM: 2-task DDP `srun fer fit` on CPU (gloo), and a requeue mid-run.

The requeue is what SLURM does before a time limit (`#SBATCH --signal=SIGUSR1@90`): every rank gets SIGUSR1,
Lightning writes hpc_ckpt_N.ckpt and runs `scontrol requeue`; the job restarts with `--ckpt_path last`, which
FERCLI turns into that newer hpc checkpoint. Run: pytest -m slow tests/test_cluster_train.py
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import subprocess
import time
from pathlib import Path

import pytest
import torch

from lightning_fer.cli import main
from lightning_fer.cluster.slurm import TERMINAL_STATES, job_records, wait_for_job
from tests.multinode import wait_until

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[1]
EPOCHS, STEPS_PER_EPOCH = 4, 3
# 2 ranks x 8 frames, 4 epochs of 3 steps; EvalProbe (tests/test_ddp.py) writes eval_rank<r>.json per rank
FIT_ARGS = ["--wandb", "false", "--data.batch_size", "8", "--data.eval_batch_size", "32",
            "--trainer.max_epochs", str(EPOCHS), "--trainer.limit_train_batches", str(STEPS_PER_EPOCH),
            "--trainer.limit_val_batches", "2", "--trainer.log_every_n_steps", "1",
            "--trainer.enable_progress_bar", "false", "--trainer.callbacks+=tests.test_ddp.EvalProbe"]


def submit(argv: list[str], logs: Path) -> str:
    """`fer` + `argv` (a `submit train` logging into `logs`) in this process; assert it succeeded; return the job id."""
    with contextlib.redirect_stdout(io.StringIO()) as out:
        rc = main(argv)
    printed = out.getvalue()
    assert rc == 0, printed + "\n".join(p.read_text()[-4000:] for p in logs.glob("*.out"))
    return printed.split("submitted train job ")[1].split()[0]


def submit_train(data: Path, run: Path, logs: Path, name: str, wait: bool) -> str:
    """`fer submit train` with the local_cpu cluster config (2 ranks); return the job id."""
    return submit(["submit", "train", "--config", "configs/demo.yaml", "--cluster-config",
                   "configs/cluster/local_cpu.yaml", "--log-dir", str(logs), "--job-name", name, "--time", "00:30:00",
                   *(["--wait"] if wait else []), "--", *FIT_ARGS, "--data.data_dir", str(data),
                   "--trainer.default_root_dir", str(run)], logs)


def wait_mid_run(job_id: str, run: Path, timeout: float = 600) -> None:
    """Until the job's first epoch has ended (``run``/checkpoints/last.ckpt written); fail at once, with the
    job's state, if it ends before that."""
    def first_epoch_ended() -> bool:
        if (run / "checkpoints" / "last.ckpt").exists():
            return True
        state = job_records(job_id)[0]["JobState"]
        assert state in ("PENDING", "RUNNING"), f"job {job_id} {state} before its first epoch ended"
        return False

    wait_until(first_epoch_ended, timeout, f"job {job_id}'s first last.ckpt", poll=1)


def release_requeued(job_id: str, timeout: float) -> None:
    """Start a requeued job now, as an operator may: SLURM holds a requeued job ~2 minutes (its BeginTime). The job
    is COMPLETING (Restarts already 1) while its tasks end, then PENDING; the update is sent until it runs again."""
    def restarted() -> bool:
        record = job_records(job_id)[0]
        if record["JobState"] == "PENDING":
            subprocess.run(["scontrol", "update", f"JobId={job_id}", "StartTime=now"], capture_output=True)
        return record.get("Restarts") == "1" and record["JobState"] in ("RUNNING", *TERMINAL_STATES)

    wait_until(restarted, timeout, f"job {job_id} to start again after its requeue", poll=1)


def job_log(logs: Path, name: str, job_id: str) -> str:
    return (logs / f"{name}-{job_id}.out").read_text()


def assert_both_ranks_trained(run: Path, log: str) -> dict:
    ranks = [json.loads(p.read_text()) for p in sorted(run.glob("eval_rank*.json"))]
    assert [(r["rank"], r["world_size"]) for r in ranks] == [(0, 2), (1, 2)], log[-4000:]
    assert "GLOBAL_RANK: 0, MEMBER: 1/2" in log and "GLOBAL_RANK: 1, MEMBER: 2/2" in log, log[-4000:]
    for name in ("best.ckpt", "last.ckpt"):
        assert (run / "checkpoints" / name).is_file(), log[-4000:]
    assert (run / "config.yaml").is_file() and (run / "metrics.csv").is_file()
    return torch.load(run / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)


@pytest.fixture(scope="module")
def uninterrupted(slurm_cluster: Path, small_prepared: Path,
                  tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path, Path]:
    """One 2-rank training job run to the end: (job id, run dir, log dir)."""
    run, logs = tmp_path_factory.mktemp("slurm-run"), tmp_path_factory.mktemp("slurm-logs")
    start = time.monotonic()
    job_id = submit_train(small_prepared, run, logs, "fer-ddp", True)
    print(f"\n2-rank DDP fer submit train --wait ({EPOCHS} epochs x {STEPS_PER_EPOCH} steps): "
          f"{time.monotonic() - start:.1f} s")
    return job_id, run, logs


def test_two_rank_ddp_training_job(uninterrupted: tuple[str, Path, Path]) -> None:
    job_id, run, logs = uninterrupted
    (record,) = job_records(job_id)
    assert (record["JobState"], record["ExitCode"], record["NumTasks"]) == ("COMPLETED", "0:0", "2")
    log = job_log(logs, "fer-ddp", job_id)
    assert "--trainer.devices=2" in (next((logs / "scripts").glob("fer-ddp-*.sbatch"))).read_text()
    checkpoint = assert_both_ranks_trained(run, log)
    assert checkpoint["global_step"] == EPOCHS * STEPS_PER_EPOCH
    assert "no last checkpoint available" in log  # --ckpt_path last on an empty run dir: a fresh start


def test_requeued_job_resumes_and_ends_at_the_same_step(uninterrupted: tuple[str, Path, Path], small_prepared: Path,
                                                        tmp_path: Path) -> None:
    run, logs = tmp_path / "run", tmp_path / "logs"
    start = time.monotonic()
    job_id = submit_train(small_prepared, run, logs, "fer-requeue", False)
    wait_mid_run(job_id, run)
    # what SLURM sends before the time limit with --signal=SIGUSR1@90: SIGUSR1 to every task of the job step
    subprocess.run(["scancel", "--signal=USR1", job_id], check=True)
    signalled = time.monotonic()
    release_requeued(job_id, timeout=300)
    result = wait_for_job(job_id, timeout=900, poll=1)
    print(f"\nrequeue test: signalled {signalled - start:.1f} s after submit; job ended after "
          f"{time.monotonic() - start:.1f} s in all")
    log = job_log(logs, "fer-requeue", job_id)
    (record,) = job_records(job_id)
    assert (result.state, result.exit_code) == ("COMPLETED", 0), log[-4000:]
    assert record["Restarts"] == "1", log[-4000:]
    assert f"job {job_id} restart 0" in log and f"job {job_id} restart 1" in log
    assert (run / "hpc_ckpt_1.ckpt").is_file(), log[-4000:]
    restored = re.findall(r"Restoring states from the checkpoint path at (\S+)", log)
    assert restored and Path(restored[-1]).name in ("hpc_ckpt_1.ckpt", "last.ckpt"), log[-4000:]
    interrupted_at = torch.load(run / "hpc_ckpt_1.ckpt", map_location="cpu", weights_only=False)["global_step"]
    assert 0 < interrupted_at < EPOCHS * STEPS_PER_EPOCH  # it really was mid-run
    checkpoint = assert_both_ranks_trained(run, log)
    _, straight_run, _ = uninterrupted
    straight = torch.load(straight_run / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)
    assert checkpoint["global_step"] == straight["global_step"] == EPOCHS * STEPS_PER_EPOCH
    assert checkpoint["epoch"] == straight["epoch"]
