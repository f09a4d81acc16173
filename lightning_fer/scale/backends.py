"""Where the points of a study run: here one after another, or one SLURM job each via `fer submit`'s machinery.

Local: each point is a subprocess `python -m lightning_fer.cli fit ...` (Lightning starts DDP ranks by
re-running the command, so a multi-device point needs its own process); a point whose scale_point.json
exists is skipped, so rerunning a study resumes it. SLURM: each point is `train_script` (the `fer submit train`
template: srun per rank, requeue-safe) with nodes and GPUs (or CPU tasks) per node from the point.
Ray: not implemented yet (TODO): run the study inside a Ray cluster job, e.g. `fer submit run`, or use slurm.
"""

from __future__ import annotations

import dataclasses
import os
import shlex
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from lightning_fer.errors import UserError
from lightning_fer.scale.plan import Point
from lightning_fer.scale.recorder import POINT_FILE

BACKENDS = ("local", "slurm", "ray")


def local_command(point: Point) -> list[str]:
    return [sys.executable, "-m", "lightning_fer.cli", "fit", *point.fit_args, *point.hardware_args()]


def run_local(points: Sequence[Point], dry_run: bool = False, force: bool = False,
              env: dict[str, str] | None = None) -> int:
    """Run the points in order; stop at the first failure (its log is in the point's run dir)."""
    for point in points:
        if point.split.nodes > 1:
            raise UserError(f"point {point.name} needs {point.split.nodes} nodes: use --backend slurm "
                            "(or --only to pick single-node points)")
    for index, point in enumerate(points, 1):
        command = local_command(point)
        header = f"== point {index}/{len(points)} {point.name}: global batch {point.global_batch}, lr {point.lr:.6g}"
        if dry_run:
            print(f"{header}\n{shlex.join(command)}")
            continue
        if (point.run_dir / POINT_FILE).is_file() and not force:
            print(f"{header}: done already ({point.run_dir / POINT_FILE}), skipped")
            continue
        print(header, flush=True)
        point.run_dir.mkdir(parents=True, exist_ok=True)
        log = point.run_dir / "fit.log"
        start = time.monotonic()
        with open(log, "w") as out:
            code = subprocess.run(command, stdout=out, stderr=subprocess.STDOUT, env=point_env(point, env)).returncode
        if code != 0:
            tail = "".join(log.read_text(errors="replace").splitlines(keepends=True)[-25:])
            print(f"{tail}\npoint {point.name} failed (exit {code}); full log: {log}", file=sys.stderr)
            return code or 1
        print(f"   done in {time.monotonic() - start:.0f} s -> {point.run_dir / POINT_FILE}", flush=True)
    return 0


def point_env(point: Point, env: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a local point: CPU ranks share the cores (unless OMP_NUM_THREADS is set already)."""
    out = {**os.environ, **(env or {})}
    if point.split.world_size > 1 and "OMP_NUM_THREADS" not in out:
        out["OMP_NUM_THREADS"] = str(max(1, (os.cpu_count() or 1) // point.split.world_size))
    return out


def slurm_plan(points: Sequence[Point], cluster_config: str | None, base_config: str):
    """One `fer submit train` BatchScript per point: its devices become GPUs per node (or CPU tasks)."""
    from lightning_fer.cluster.jobs import train_script
    from lightning_fer.cluster.resources import load_resources

    resources = load_resources(cluster_config)
    plan = []
    for point in points:
        per_node = {"gpus_per_node": point.split.devices, "tasks_per_node": None} if resources.gpus_per_node \
            else {"tasks_per_node": point.split.devices}
        point_res = dataclasses.replace(resources, nodes=point.split.nodes, job_name=_job_name(point), **per_node)
        point_res.validate(cluster_config or "resources")
        args = _without_config(point.fit_args, base_config)
        script = train_script(point_res, base_config, args, ckpt_path="last")
        script.name = point.name
        plan.append(script)
    return plan


def run_slurm(points: Sequence[Point], cluster_config: str | None, base_config: str, dry_run: bool = False,
              wait: bool = False) -> int:
    from lightning_fer.cluster.submit import run_plan

    return run_plan(slurm_plan(points, cluster_config, base_config), dry_run=dry_run, wait=wait)


def _job_name(point: Point) -> str:
    return "scale-" + "".join(c if c.isalnum() or c in "_.+-" else "-" for c in point.name)


def _without_config(args: list[str], config: str) -> list[str]:
    """train_script passes --config itself (as an absolute path); drop ours."""
    out = list(args)
    if out[:2] == ["--config", config]:
        out = out[2:]
    return out


def run_ray(points: Sequence[Point], dry_run: bool = False) -> int:
    raise UserError("the ray backend is not implemented yet: use --backend local inside a Ray/SLURM allocation "
                    "or --backend slurm (one job per point)")


def missing_results(points: Sequence[Point]) -> list[Path]:
    return [p.run_dir / POINT_FILE for p in points if not (p.run_dir / POINT_FILE).is_file()]
