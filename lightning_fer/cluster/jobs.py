"""Build the sbatch scripts `fer submit` sends: training, the crop-pass array and its merge, Ray Tune, any command.

Each builder returns BatchScript objects; nothing here talks to SLURM (that is slurm.py), so the
rendered text is tested without a cluster.
"""

from __future__ import annotations

import dataclasses
import shlex
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from lightning_fer.cluster.render import render
from lightning_fer.cluster.resources import Resources
from lightning_fer.errors import UserError


@dataclass
class BatchScript:
    """One sbatch script; `after_ok` is the index of an earlier script in the same plan that must succeed first."""

    name: str
    text: str
    resources: Resources
    after_ok: int | None = None


def fer_command(resources: Resources) -> str:
    """The fer invocation jobs use: this interpreter by default, so the job sees the same venv as the submitter."""
    return resources.fer_command or f"{shlex.quote(sys.executable)} -m lightning_fer.cli"


def sbatch_header(resources: Resources, *, array: str | None = None) -> str:
    """The #SBATCH lines for `resources` (output and working directory absolute, so requeues find them)."""
    r = resources
    output = "%x-%A_%a.out" if array else "%x-%j.out"
    lines = [
        f"--job-name={r.job_name}",
        f"--nodes={r.nodes}",
        f"--ntasks-per-node={r.ntasks_per_node}",
        f"--cpus-per-task={r.cpus_per_task}",
        f"--time={r.time}",
        f"--output={Path(r.log_dir).resolve() / output}",
        f"--chdir={Path.cwd()}",
    ]
    if r.gpus_per_node:
        lines.append(f"--gres=gpu:{r.gpu_type + ':' if r.gpu_type else ''}{r.gpus_per_node}")
    if r.mem:
        lines.append(f"--mem={r.mem}")
    if r.partition:
        lines.append(f"--partition={r.partition}")
    if r.account:
        lines.append(f"--account={r.account}")
    if array:
        lines.append(f"--array={array}")
    lines += [line.removeprefix("#SBATCH").strip() for line in r.extra_sbatch]
    return "\n".join(f"#SBATCH {line}" for line in lines)


def _common(resources: Resources, **extra: str) -> dict[str, str]:
    setup = "\n".join(resources.setup) if resources.setup else "# (no setup lines in the cluster config)"
    return {"sbatch_header": sbatch_header(resources), "setup": setup, "fer": fer_command(resources), **extra}


def _quote_all(args: Sequence[str]) -> str:
    return " ".join(shlex.quote(a) for a in args)


def _existing(path: str, what: str) -> str:
    resolved = Path(path).resolve()
    if not resolved.exists():
        raise UserError(f"{what} {path} does not exist")
    return shlex.quote(str(resolved))


def train_script(
    resources: Resources, config: str, extra_args: Sequence[str] = (), ckpt_path: str | None = "last",
    requeue: bool = True,
) -> BatchScript:
    """`srun fer fit` on every rank: accelerator, devices and num_nodes follow the resources. ``requeue``: SLURM
    requeues the job after a node failure (and SIGUSR1 may requeue it); without, the job ends NODE_FAIL."""
    r = resources
    trainer = [
        f"--trainer.accelerator={'gpu' if r.gpus_per_node else 'cpu'}",
        f"--trainer.devices={r.ntasks_per_node}",
        f"--trainer.num_nodes={r.nodes}",
        f"--trainer.strategy={'ddp' if r.world_size > 1 else 'auto'}",
    ]
    resume = ["--ckpt_path", ckpt_path] if ckpt_path else []
    values = _common(
        r,
        config=_existing(config, "training config"),
        trainer_args=_quote_all(trainer),
        resume_args=_quote_all(resume),
        extra_args=_quote_all(extra_args),
        world_size=str(r.world_size),
        requeue="--requeue" if requeue else "--no-requeue",
    )
    return BatchScript("train", render("train.sbatch", values), r)


def prepare_scripts(
    resources: Resources,
    root: str,
    out: str,
    array: int,
    max_parallel: int | None = None,
    extra_args: Sequence[str] = (),
) -> list[BatchScript]:
    """The crop pass as `array` single-task jobs (shard i of `array`) and a merge job that runs after all succeed."""
    if array < 1:
        raise UserError(f"--array must be >= 1, got {array}")
    one_task = dataclasses.replace(resources, nodes=1, gpus_per_node=0, tasks_per_node=1)
    spec = f"0-{array - 1}" + (f"%{max_parallel}" if max_parallel else "")
    out_q = shlex.quote(str(Path(out).resolve()))
    shards = _common(one_task, root=_existing(root, "source folder"), out=out_q, extra_args=_quote_all(extra_args))
    shards["sbatch_header"] = sbatch_header(one_task, array=spec)
    merge_res = dataclasses.replace(one_task, job_name=f"{resources.job_name}-merge")
    merge = _common(merge_res, out=out_q)
    return [
        BatchScript("prepare", render("prepare_array.sbatch", shards), one_task),
        BatchScript("merge", render("prepare_merge.sbatch", merge), merge_res, after_ok=0),
    ]


def ray_script(resources: Resources, driver: str) -> BatchScript:
    """A Ray cluster over the allocation (head on the first node, one worker per other node) running `driver`."""
    r = dataclasses.replace(resources, tasks_per_node=1)  # one Ray node per SLURM node, owning its CPUs and GPUs
    python = shlex.quote(sys.executable)
    ray = shlex.quote(str(Path(sys.executable).with_name("ray")))
    values = _common(r, driver=driver, python=python, ray=ray, gpus_per_node=str(r.gpus_per_node))
    return BatchScript("ray", render("ray_cluster.sbatch", values), r)


def tune_script(resources: Resources, config: str, search: str | None, extra_args: Sequence[str] = ()) -> BatchScript:
    """`fer tune` on a Ray cluster spanning the allocation."""
    args = ["--config", str(Path(config).resolve())]
    _existing(config, "tuning base config")
    if search:
        _existing(search, "search space")
        args += ["--search", str(Path(search).resolve())]
    script = ray_script(resources, f"{fer_command(resources)} tune {_quote_all([*args, *extra_args])}")
    script.name = "tune"
    return script


def run_script(resources: Resources, command: Sequence[str]) -> BatchScript:
    """Any command, `srun` once per task: the generic path (and the one the SLURM tests prove)."""
    if not command:
        raise UserError("fer submit run needs a command after --, e.g. fer submit run -- hostname")
    return BatchScript("run", render("run.sbatch", _common(resources, command=_quote_all(command))), resources)
