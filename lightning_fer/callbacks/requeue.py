"""SLURM requeue on the job's warning signal, decided by all ranks together at a step boundary.

Lightning's own handler saves ``hpc_ckpt_N.ckpt`` inside the signal handler, and the save ends in a barrier.
Under DDP a rank that gets the signal while it is blocked in a collective (the next step's broadcast, a
gradient all-reduce) cannot run its handler until that collective returns, which it never does while the
other rank waits in the barrier: a 2-rank gloo job deadlocked this way. Here the handler only sets a flag;
at the start of every training step the ranks agree on it (one boolean all-reduce), then all save the same
checkpoint and rank 0 asks SLURM to requeue the job, as Lightning does. Installing the handler first keeps
Lightning from installing its own (it never replaces an existing handler).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import threading

import pytorch_lightning as pl
from lightning_fabric.plugins.environments import SLURMEnvironment
from lightning_fabric.utilities.rank_zero import rank_zero_info, rank_zero_warn

from lightning_fer.run_dirs import RunFolder


class SlurmRequeue(pl.Callback):
    """Save ``<default_root_dir>/hpc_ckpt_N.ckpt`` on every rank's next step after the requeue signal, then
    ``scontrol requeue``; a no-op outside SLURM or when the SLURM environment has ``auto_requeue=False``."""

    def __init__(self) -> None:
        self.requested = False
        self._signum: int | None = None
        self._previous = None

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        environment = getattr(trainer.strategy, "cluster_environment", None)
        if stage != "fit" or not SLURMEnvironment.detect() or threading.current_thread() is not threading.main_thread():
            return
        if isinstance(environment, SLURMEnvironment) and not environment.auto_requeue:
            return
        requeue_signal = getattr(environment, "requeue_signal", None) or signal.SIGUSR1
        self._signum = int(requeue_signal)
        self._previous = signal.signal(self._signum, self._note_signal)

    def _note_signal(self, signum, frame) -> None:
        self.requested = True

    def on_train_batch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch, batch_idx: int) -> None:
        if self._signum is None or not trainer.strategy.reduce_boolean_decision(self.requested, all=False):
            return
        self.requested = False
        rank_zero_info(f"requeue signal {self._signum}: saving and requeueing at global step {trainer.global_step}")
        for logger in trainer.loggers:
            logger.save()
        trainer.save_checkpoint(RunFolder(trainer.default_root_dir).next_hpc_checkpoint())
        if trainer.is_global_zero:
            requeue_this_job()

    def teardown(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        if self._signum is not None:
            signal.signal(self._signum, self._previous or signal.SIG_DFL)
            self._signum = None


def requeue_this_job() -> None:
    array_job = os.environ.get("SLURM_ARRAY_JOB_ID")
    job_id = f"{array_job}_{os.environ['SLURM_ARRAY_TASK_ID']}" if array_job else os.environ["SLURM_JOB_ID"]
    if not re.fullmatch(r"[0-9_]+", job_id):
        rank_zero_warn(f"not requeueing: unexpected SLURM job id {job_id!r}")
        return
    try:
        result = subprocess.call(["scontrol", "requeue", job_id])
    except FileNotFoundError:
        rank_zero_warn("not requeueing: scontrol is not on PATH")
        return
    if result == 0:
        rank_zero_info(f"requeued SLURM job {job_id}")
    else:
        rank_zero_warn(f"requeueing SLURM job {job_id} failed with exit code {result}")
