"""Joining Ray and sizing work for it, shared by `fer tune` (tune/driver.py), Ray Train jobs (ray_train.py) and
`fer scale run --backend ray` (scale/backends.py): the largest node, the cluster's totals, ``gpu: auto``."""

from __future__ import annotations

import os
from dataclasses import dataclass

# What wandb reads from the environment, passed on to every Ray Tune trial and Ray Train rank: with WANDB_API_KEY
# set the runs go online without a prompt on any node, whatever environment those nodes' Ray processes started in
WANDB_ENV = ("WANDB_API_KEY", "WANDB_BASE_URL", "WANDB_ENTITY", "WANDB_PROJECT", "WANDB_MODE", "WANDB_SILENT",
             "WANDB_DIR")


def wandb_runtime_env() -> dict | None:
    """Ray's runtime environment carrying the wandb settings of this process (None when none is set)."""
    env_vars = {key: os.environ[key] for key in WANDB_ENV if os.environ.get(key)}
    return {"env_vars": env_vars} if env_vars else None


def ensure_ray() -> None:
    """Join the cluster in RAY_ADDRESS (set by the SLURM template / `ray job submit`), else start a local one; the
    job's runtime environment carries the wandb credentials and settings (:func:`wandb_runtime_env`)."""
    import ray

    if ray.is_initialized():
        return
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    if os.environ.get("RAY_ADDRESS"):
        ray.init(runtime_env=wandb_runtime_env())
    else:
        ray.init(include_dashboard=False, runtime_env=wandb_runtime_env())


@dataclass(frozen=True)
class RayCapacity:
    """What the connected Ray cluster offers: each alive node's resources and the cluster's totals."""

    nodes: tuple[dict[str, float], ...]
    total: dict[str, float]

    def largest(self, key: str) -> float:
        """The most of ``key`` ("CPU", "GPU") one node has: what a single process (or rank) can get."""
        return max((n.get(key, 0.0) for n in self.nodes), default=0.0)

    def gpus(self, requested: float | str) -> float:
        """``auto`` is one GPU on a cluster that has GPUs, else none; a number is taken as given."""
        if requested == "auto":
            return 1.0 if self.total.get("GPU", 0.0) > 0 else 0.0
        return float(requested)

    def placeable(self, key: str, per_rank: float) -> int:
        """How many ranks needing ``per_rank`` of ``key`` the nodes hold (each rank on one node)."""
        return sum(int(n.get(key, 0.0) // per_rank) for n in self.nodes)


def ray_capacity(connect: bool = True) -> RayCapacity:
    """The one place Ray is sized (tune, Ray Train jobs, `fer scale --backend ray`). Without ``connect`` and no
    Ray running (a dry run), this machine stands in for a one-node cluster."""
    import ray

    if not connect and not ray.is_initialized():
        import torch

        here = {"CPU": float(os.cpu_count() or 1), "GPU": float(torch.cuda.device_count())}
        return RayCapacity((here,), dict(here))
    ensure_ray()
    nodes = tuple(dict(n["Resources"]) for n in ray.nodes() if n.get("Alive"))
    return RayCapacity(nodes, dict(ray.cluster_resources()))
