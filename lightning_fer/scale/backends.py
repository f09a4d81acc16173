"""Where the points of a study run: here one after another, or one SLURM job each via `fer submit`'s machinery.

Local: each point is a subprocess `python -m lightning_fer.cli fit ...` (Lightning starts DDP ranks by
re-running the command, so a multi-device point needs its own process); a point whose scale_point.json
exists is skipped, so rerunning a study resumes it. SLURM: each point is `train_script` (the `fer submit train`
template: srun per rank, requeue-safe) with nodes and GPUs (or CPU tasks) per node from the point.
Ray (the cluster in RAY_ADDRESS, else a local Ray, as `fer tune`): a one-device point is a Ray task that runs
the local subprocess on the node Ray picks (1 GPU, or cpus_per_rank CPUs); a multi-device point is a Ray Train
job of `devices` ranks (:mod:`lightning_fer.ray_train`, the same mechanism as a multi-worker `fer tune` trial),
each rank reserving 1 GPU or cpus_per_rank CPUs. Points run side by side when the cluster has room;
single-node points only.
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
from lightning_fer.run_dirs import RunFolder
from lightning_fer.scale.plan import Point

BACKENDS = ("local", "slurm", "ray")


def local_command(point: Point, resume: bool = False) -> list[str]:
    """The point's `fer fit`; ``resume`` continues an interrupted point from its checkpoints (as SLURM points do)."""
    return [sys.executable, "-m", "lightning_fer.cli", "fit", *point.fit_args, *point.hardware_args(),
            *(["--ckpt_path", "last"] if resume else [])]


def run_local(points: Sequence[Point], dry_run: bool = False, force: bool = False,
              env: dict[str, str] | None = None) -> int:
    """Run the points in order; stop at the first failure (its log is in the point's run dir)."""
    _refuse_multi_node(points)
    for index, point in enumerate(points, 1):
        header = f"== point {index}/{len(points)} {point.name}: global batch {point.global_batch}, lr {point.lr:.6g}"
        if dry_run:
            print(f"{header}\n{shlex.join(local_command(point))}")
        elif not _skip(point, force, header):
            print(header, flush=True)
            code, seconds = run_point(point, env)
            log = RunFolder(point.run_dir).fit_log
            if code != 0:
                tail = "".join(log.read_text(errors="replace").splitlines(keepends=True)[-25:])
                print(f"{tail}\npoint {point.name} failed (exit {code}); full log: {log}", file=sys.stderr)
                return code or 1
            print(f"   done in {seconds:.0f} s -> {RunFolder(point.run_dir).scale_point}", flush=True)
    return 0


def run_point(point: Point, env: dict[str, str] | None = None, cwd: str | None = None) -> tuple[int, float]:
    """One point as a `fer fit` subprocess, its output appended to <run_dir>/fit.log: (exit code, seconds).

    A point interrupted before its scale_point.json resumes; one with results is rerun only with --force, which
    first moves its folder aside (:func:`_skip`)."""
    from lightning_fer.run_dirs import holds_run

    run_dir = Path(cwd or ".") / point.run_dir
    run_dir.mkdir(parents=True, exist_ok=True)
    resume = holds_run(run_dir) and not RunFolder(run_dir).scale_point.is_file()
    start = time.monotonic()
    with open(RunFolder(run_dir).fit_log, "a") as out:
        code = subprocess.run(local_command(point, resume), stdout=out, stderr=subprocess.STDOUT, cwd=cwd,
                              env=point_env(point, env)).returncode
    return code, time.monotonic() - start


def _refuse_multi_node(points: Sequence[Point]) -> None:
    for point in points:
        if point.split.nodes > 1:
            raise UserError(f"point {point.name} needs {point.split.nodes} nodes: use --backend slurm "
                            "(or --only to pick single-node points)")


def _skip(point: Point, force: bool, header: str) -> bool:
    """A finished point is skipped; with ``force`` its folder is moved aside (nothing of it is lost or mixed
    into the new run, which `fer fit` would refuse anyway) and the point runs anew."""
    if not RunFolder(point.run_dir).scale_point.is_file():
        return False
    if not force:
        print(f"{header}: done already ({RunFolder(point.run_dir).scale_point}), skipped")
        return True
    stamp, number = time.strftime("%Y%m%d-%H%M%S"), 1
    aside = point.run_dir.with_name(f"{point.run_dir.name}.replaced-{stamp}")
    while aside.exists():
        number += 1
        aside = point.run_dir.with_name(f"{point.run_dir.name}.replaced-{stamp}-{number}")
    point.run_dir.rename(aside)
    print(f"{header}: --force: its earlier results moved to {aside}")
    return False


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


def run_ray(points: Sequence[Point], dry_run: bool = False, force: bool = False, cpus_per_rank: float = 1) -> int:
    """Every point as a Ray task at once (Ray queues what does not fit); wait for all, report the failures."""
    import ray

    from lightning_fer.ray_runtime import ray_capacity
    from lightning_fer.ray_train import DRIVER_MEMORY, Workers, concurrent_jobs, worker_args

    _refuse_multi_node(points)
    if dry_run and not ray.is_initialized():
        print("(dry run: resources sized for this machine; at run time for the Ray cluster's largest node)")
    capacity = ray_capacity(connect=not dry_run)
    max_cpus, max_gpus = capacity.largest("CPU"), capacity.largest("GPU")
    tasks, remote, remote_train = {}, ray.remote(run_point), ray.remote(run_point_on_workers)
    for index, point in enumerate(points, 1):
        gpus = point.devices if max_gpus > 0 and point.accelerator != "cpu" else 0
        if point.split.devices == 1 and gpus > max_gpus:
            raise UserError(f"point {point.name} needs {gpus} GPUs but the largest Ray node has {max_gpus:g}")
        cpus = max(1.0, min(point.split.devices * cpus_per_rank, max_cpus)) if not gpus else 1.0
        header = (f"== point {index}/{len(points)} {point.name}: global batch {point.global_batch}, "
                  f"lr {point.lr:.6g}, ray task: {cpus:g} CPU(s), {gpus} GPU(s)")
        workers = Workers(point.split.devices, 0.0 if gpus else float(cpus_per_rank), 1.0 if gpus else 0.0)
        if point.split.devices > 1:
            header += f"\n   as a Ray Train job of {workers.describe()}, each rank running"
        command = local_command(point) if point.split.devices == 1 else \
            [sys.executable, "-m", "lightning_fer.cli", "fit", *worker_args(point.fit_args)]
        if dry_run:
            print(f"{header}\n{shlex.join(command)}")
        elif not _skip(point, force, header):
            print(header, flush=True)
            if point.split.devices > 1:
                concurrent_jobs(workers, f"point {point.name}")  # refuse what the cluster can never place
                driver = remote_train.options(num_cpus=0, memory=DRIVER_MEMORY)
                tasks[driver.remote(point, workers, os.getcwd())] = point
                continue
            env = {} if gpus else {"OMP_NUM_THREADS": str(max(1, int(cpus) // point.split.world_size))}
            tasks[remote.options(num_cpus=cpus, num_gpus=gpus).remote(point, env, os.getcwd())] = point
    failed, pending = [], list(tasks)
    while pending:
        [ref], pending = ray.wait(pending)
        point, (code, seconds) = tasks[ref], ray.get(ref)
        print(f"   {point.name}: " + (f"done in {seconds:.0f} s" if code == 0 else f"failed (exit {code})"), flush=True)
        if code != 0:
            failed.append((point, code))
    for point, code in failed:
        log = RunFolder(point.run_dir.resolve()).fit_log
        print(f"point {point.name} failed (exit {code}); log: {log}", file=sys.stderr)
    return (failed[0][1] or 1) if failed else 0


def run_point_on_workers(point: Point, workers, cwd: str) -> tuple[int, float]:
    """A multi-device point as a Ray Train job (run as a Ray task that drives it): (exit code, seconds).

    The ranks log to Ray's worker logs; <run_dir>/fit.log says so, and holds the error when the job failed.
    """
    from lightning_fer.ray_train import fit_on_workers

    run_dir = Path(cwd) / point.run_dir
    run_dir.mkdir(parents=True, exist_ok=True)
    start, code = time.monotonic(), 0
    note = f"Ray Train job of {workers.describe()}; the ranks' output is in Ray's worker logs\n"
    try:
        fit_on_workers(point.fit_args, workers, run_dir, cwd=cwd)
    except Exception as err:  # a failed point is reported with the others, not raised
        note, code = note + f"failed: {type(err).__name__}: {err}\n", 1
    RunFolder(run_dir).fit_log.write_text(note)
    return code, time.monotonic() - start
