"""One `fer fit` as a Ray Train job of W ranks: shared by multi-worker `fer tune` trials and `fer scale run
--backend ray` multi-device points.

The driver side builds a ``ray.train.torch.TorchTrainer`` (``ScalingConfig(num_workers=W, use_gpu=...)``); Ray
starts the W worker actors and their torch process group (gloo on CPU, NCCL on GPU). Each worker runs the same
LightningCLI config as `fer fit` (:func:`lightning_fer.lightning_cli.make_cli`) plus :data:`WORKER_ARGS`:
Lightning's ``RayDDPStrategy`` and ``RayLightningEnvironment``, so ``trainer.global_rank``/``world_size`` (and
with them the DALI shards of the data module) are the ranks Ray gives each worker. ``prepare_trainer`` is
applied by :class:`RayTrainWorker` when the trainer is set up. A worker that dies makes Ray Train restart the
whole group (``FailureConfig(max_failures)``); the run continues from its ``checkpoints/last.ckpt``.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pytorch_lightning as pl

from lightning_fer.errors import UserError
from lightning_fer.run_dirs import RunFolder

WORKER_CALLBACK = "lightning_fer.ray_train.RayTrainWorker"
# What the process driving a job (a Tune trial function, a `fer scale` Ray task) reserves: no CPU or GPU, its
# ranks reserve those (Ray needs a non-empty request: a little logical memory)
DRIVER_MEMORY = 128 * 2**20
# Lightning's documented Ray setup: all visible devices of the worker ("auto"), Ray's strategy and environment
# (the strategy as a mapping: a bare class path would be taken for a registry name such as "ddp")
WORKER_ARGS = ("--trainer.strategy", '{"class_path": "ray.train.lightning.RayDDPStrategy"}',
               "--trainer.plugins", "ray.train.lightning.RayLightningEnvironment",
               "--trainer.devices", "auto", "--trainer.num_nodes", "1",
               f"--trainer.callbacks+={WORKER_CALLBACK}")


@dataclass(frozen=True)
class Workers:
    """Ranks of one job and what each reserves (Ray logical resources)."""

    count: int
    cpus: float = 1.0
    gpus: float = 0.0

    def total(self) -> dict[str, float]:
        return {"CPU": self.count * self.cpus, "GPU": self.count * self.gpus}

    def describe(self) -> str:
        return f"{self.count} worker(s) x {self.cpus:g} CPU(s), {self.gpus:g} GPU(s)"


def concurrent_jobs(workers: Workers, what: str = "a trial") -> int:
    """How many such jobs the connected Ray cluster runs at once; a job it can never place is a UserError.

    Each rank must fit on one node and all ranks on the cluster; the limiting resource (GPUs, else CPUs) sets
    the number of concurrent jobs (Ray's `max_concurrent_trials` advice for Train inside Tune).
    """
    from lightning_fer.ray_runtime import ray_capacity

    capacity = ray_capacity()
    cluster = capacity.total
    for key, per_rank in (("CPU", workers.cpus), ("GPU", workers.gpus)):
        largest = capacity.largest(key)
        if per_rank > largest:
            raise UserError(f"{what} of {workers.describe()}: one worker needs {per_rank:g} {key}(s) but the "
                            f"largest Ray node has {largest:g}")
        # ranks fill whole nodes: count how many whole workers each node holds
        fits = capacity.placeable(key, per_rank) if per_rank else workers.count
        if fits < workers.count:
            raise UserError(f"{what} of {workers.describe()} needs {workers.count * per_rank:g} {key}(s) but the "
                            f"Ray cluster can place only {fits} such worker(s) ({cluster.get(key, 0):g} {key}(s) on "
                            f"{len(capacity.nodes)} node(s)): lower --workers-per-trial or the resources per worker")
    limits = [cluster.get(k, 0.0) // need for k, need in workers.total().items() if need > 0]
    return max(1, int(min(limits))) if limits else 1


def worker_args(args: Sequence[str]) -> list[str]:
    """A `fer fit` argument list as each Ray Train rank runs it (Ray's strategy, environment, devices)."""
    return [*args, *WORKER_ARGS]


def fit_on_workers(args: Sequence[str], workers: Workers, run_dir: Path, max_failures: int = 0,
                   report_to_tune: bool = False, cwd: str | None = None) -> None:
    """Run `fer fit ARGS` on a Ray Train job of `workers`; raises when it fails after `max_failures` restarts.

    The Train run's own state lives in ``<run_dir>/ray_train`` under a name fixed by the run directory, so a
    retried Tune trial reattaches to it (Ray's rule: same storage path and name). With `report_to_tune`, rank 0's
    epoch reports are passed on to the Tune trial that calls this (``TuneReportCallback``).
    """
    import ray.train
    from ray.train.torch import TorchTrainer

    callbacks = []
    if report_to_tune:
        from ray.tune.integration.ray_train import TuneReportCallback

        callbacks.append(TuneReportCallback())
    trainer = TorchTrainer(
        _worker_loop,
        train_loop_config={"args": worker_args(args), "cwd": cwd or os.getcwd()},
        scaling_config=ray.train.ScalingConfig(
            num_workers=workers.count, use_gpu=workers.gpus > 0,
            resources_per_worker={"CPU": workers.cpus, **({"GPU": workers.gpus} if workers.gpus else {})}),
        run_config=ray.train.RunConfig(
            name=RunFolder(run_dir).ray_train.name, storage_path=str(Path(run_dir).resolve()), callbacks=callbacks,
            failure_config=ray.train.FailureConfig(max_failures=max_failures)),
    )
    trainer.fit()


def _worker_loop(config: dict) -> None:
    """Every rank: the `fer fit` CLI with the shared arguments (relative paths resolve from the driver's cwd)."""
    if config.get("cwd") and Path(config["cwd"]).is_dir():
        os.chdir(config["cwd"])
    from lightning_fer.lightning_cli import make_cli

    try:
        make_cli(["fit", *config["args"]])
    except SystemExit as exit_:  # jsonargparse exits on a bad flag: an error Ray Train reports
        raise RuntimeError(f"fer fit {' '.join(config['args'])} exited with {exit_.code} (bad override?)") from None


class RayTrainWorker(pl.Callback):
    """On each rank of a Ray Train job: ``prepare_trainer`` (checks strategy and environment) and one line in
    ``<run_dir>/ray_workers.jsonl`` (rank, world size, node, pid): which process trained which shard."""

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        from ray.train.lightning import prepare_trainer
        from ray.util import get_current_placement_group

        prepare_trainer(trainer)
        group = get_current_placement_group()
        record = {"rank": trainer.global_rank, "world_size": trainer.world_size, "local_rank": trainer.local_rank,
                  "node": socket.gethostname(), "pid": os.getpid(), "device": str(trainer.strategy.root_device),
                  "placement_group": group.id.hex() if group else None}
        Path(trainer.default_root_dir).mkdir(parents=True, exist_ok=True)
        with open(RunFolder(trainer.default_root_dir).ray_workers, "a") as f:  # one short line: atomic append
            f.write(json.dumps(record) + "\n")


def read_workers(run_dir: Path) -> list[dict]:
    path = RunFolder(run_dir).ray_workers
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.is_file() else []


def release_placement_groups(run_dir: Path) -> list[str]:
    """Remove the placement groups a job's ranks ran in, if they are still there; returns the ids removed.

    A job that ends normally removes its own. One whose driver is killed (a Tune trial stopped by ASHA) leaves
    its group reserved until the `fer tune` driver exits: Ray Train's own cleaner needs the Ray state API
    (dashboard) and fails without it, and later trials would wait for those CPUs/GPUs forever.
    """
    from ray._raylet import PlacementGroupID
    from ray.util.placement_group import PlacementGroup, placement_group_table, remove_placement_group

    removed = []
    for group in sorted({w["placement_group"] for w in read_workers(run_dir) if w.get("placement_group")}):
        if placement_group_table().get(group, {}).get("state") not in (None, "REMOVED"):
            remove_placement_group(PlacementGroup(PlacementGroupID.from_hex(group)))
            removed.append(group)
    return removed
