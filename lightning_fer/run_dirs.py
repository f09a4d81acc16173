"""Run folders (``trainer.default_root_dir``): one training run each, never replaced by another.

A folder *holds a run* once it has a checkpoint: ``checkpoints/*.ckpt`` or a SLURM requeue's
``hpc_ckpt_N.ckpt``. A new `fer fit` into such a folder is refused unless it resumes (``--ckpt_path``) or asks
for a new run (``--new_run true``), which then trains in the first of ``<folder>-2``, ``<folder>-3``, ... that
holds no run yet.

Every DDP rank reaches the same answer without talking to the others: it depends only on which folders hold
checkpoints, and no rank writes a checkpoint before all ranks have started (the process group forms first).
"""

from __future__ import annotations

from pathlib import Path

from lightning_fer.errors import UserError


def run_checkpoints(root: str | Path) -> list[Path]:
    """The checkpoints a run folder holds (best/last and SLURM's hpc_ckpt_N), sorted."""
    from lightning_fer.callbacks.checkpoints import run_checkpoint_dir  # Lightning only once a run is looked at

    root = Path(root)
    return sorted([*run_checkpoint_dir(root).glob("*.ckpt"), *root.glob("hpc_ckpt_*.ckpt")])


def holds_run(root: str | Path) -> bool:
    return bool(run_checkpoints(root))


def resume_args(root: str | Path) -> list[str]:
    """``--ckpt_path last`` when ``root`` holds a run (a retried trial, a rerun fold or demo continues it)."""
    return ["--ckpt_path", "last"] if holds_run(root) else []


def slurm_resumes(root: str | Path) -> bool:
    """Inside a SLURM job Lightning itself resumes from ``hpc_ckpt_N.ckpt`` when no ckpt_path is given (a requeue
    of a job submitted without one): such a fit continues its run rather than starting a new one."""
    from lightning_fabric.plugins.environments import SLURMEnvironment

    return SLURMEnvironment.detect() and any(Path(root).glob("hpc_ckpt_*.ckpt"))


def next_free_run_dir(root: str | Path) -> Path:
    """The first of ``<root>-2``, ``<root>-3``, ... that holds no run (it may exist without checkpoints)."""
    root = Path(root)
    index = 2
    while holds_run(root.with_name(f"{root.name}-{index}")):
        index += 1
    return root.with_name(f"{root.name}-{index}")


def fit_run_dir(root: str | Path, resuming: bool, new_run: bool) -> Path:
    """Where `fer fit` may train: ``root`` itself, or a new numbered folder beside it for ``new_run``.

    UserError (one line naming the folder) for a new fit into a folder that holds a run, and for
    ``new_run`` together with a checkpoint to resume (a requeue of such a job would start yet another folder).
    """
    root = Path(root)
    if new_run and resuming:
        raise UserError("--new_run true starts a new run, --ckpt_path resumes one: pass only one of them")
    if not holds_run(root):
        return root
    if new_run:
        return next_free_run_dir(root)
    if resuming or slurm_resumes(root):
        return root
    raise UserError(f"{root} already holds a run ({len(run_checkpoints(root))} checkpoint(s)); resume it with "
                    "--ckpt_path last, start a new one beside it with --new_run true, or pick another "
                    "--trainer.default_root_dir")
