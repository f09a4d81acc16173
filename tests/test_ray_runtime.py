"""Ray sizing (lightning_fer.ray_runtime.RayCapacity): the largest node, `gpu: auto`, ranks per node."""

from __future__ import annotations

import pytest

from lightning_fer.ray_runtime import RayCapacity


def test_capacity_sizes_by_the_largest_node_and_whole_ranks_per_node() -> None:
    capacity = RayCapacity(({"CPU": 8.0, "GPU": 2.0}, {"CPU": 4.0}), {"CPU": 12.0, "GPU": 2.0})
    assert capacity.largest("CPU") == 8.0 and capacity.largest("GPU") == 2.0
    assert capacity.placeable("CPU", 3.0) == 2 + 1  # no rank spans two nodes
    assert capacity.gpus("auto") == 1.0 and capacity.gpus(0.5) == 0.5
    cpu_only = RayCapacity(({"CPU": 2.0},), {"CPU": 2.0})
    assert cpu_only.gpus("auto") == 0.0 and cpu_only.largest("GPU") == 0.0
    assert RayCapacity((), {}).largest("CPU") == 0.0


def test_dry_run_capacity_is_this_machine_without_starting_ray() -> None:
    import os

    import ray

    from lightning_fer.ray_runtime import ray_capacity

    if ray.is_initialized():
        pytest.skip("Ray is running in this process already")
    capacity = ray_capacity(connect=False)
    assert capacity.largest("CPU") == float(os.cpu_count() or 1) and not ray.is_initialized()
