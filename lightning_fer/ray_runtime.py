"""Joining Ray, shared by `fer tune` (tune/driver.py) and `fer scale run --backend ray` (scale/backends.py)."""

from __future__ import annotations

import os


def ensure_ray() -> None:
    """Join the cluster in RAY_ADDRESS (set by the SLURM template / `ray job submit`), else start a local one."""
    import ray

    if ray.is_initialized():
        return
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    if os.environ.get("RAY_ADDRESS"):
        ray.init()
    else:
        ray.init(include_dashboard=False)
