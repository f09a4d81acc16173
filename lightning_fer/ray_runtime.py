"""Joining Ray, shared by `fer tune` (tune/driver.py) and `fer scale run --backend ray` (scale/backends.py)."""

from __future__ import annotations

import os

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
