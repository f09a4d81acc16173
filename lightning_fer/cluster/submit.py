"""Submit (or, with dry_run, only print) a plan of BatchScripts: write each to the log folder, sbatch it with
`--dependency=afterok:<id>` where it depends on an earlier one, and optionally wait for the last to end.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from lightning_fer.atomic_write import write_text
from lightning_fer.cluster import slurm
from lightning_fer.cluster.jobs import BatchScript


def dependency_args(script: BatchScript, job_ids: Sequence[str]) -> list[str]:
    """sbatch flags for `script`'s dependency; a failed dependency cancels it instead of leaving it pending forever."""
    if script.after_ok is None:
        return []
    return [f"--dependency=afterok:{job_ids[script.after_ok]}", "--kill-on-invalid-dep=yes"]


def print_plan(plan: Sequence[BatchScript], out: TextIO | None = None) -> None:
    """The dry run: each script and the sbatch line that would submit it."""
    out = out or sys.stdout
    placeholders = [f"<job id of {s.name}>" for s in plan]
    for script in plan:
        flags = " ".join(dependency_args(script, placeholders))
        out.write(f"# ---- sbatch --parsable {flags + ' ' if flags else ''}{script.name}.sbatch\n")
        out.write(script.text.rstrip("\n") + "\n")
    out.write(f"# dry run: {len(plan)} script(s) rendered, nothing submitted\n")


def submit_plan(plan: Sequence[BatchScript], out: TextIO | None = None) -> list[str]:
    """sbatch every script in order; return the job ids. Scripts are kept in <log_dir>/scripts/ for the record."""
    out = out or sys.stdout
    stamp = time.strftime("%Y%m%d-%H%M%S")
    job_ids: list[str] = []
    for index, script in enumerate(plan):
        log_dir = Path(script.resources.log_dir).resolve()
        (log_dir / "scripts").mkdir(parents=True, exist_ok=True)
        path = log_dir / "scripts" / f"{script.resources.job_name}-{stamp}-{os.getpid()}-{index}.sbatch"
        write_text(path, script.text)
        job_id = slurm.sbatch(path, dependency_args(script, job_ids))
        job_ids.append(job_id)
        out.write(f"submitted {script.name} job {job_id} ({path}; logs in {log_dir})\n")
    return job_ids


def run_plan(
    plan: Sequence[BatchScript], *, dry_run: bool = False, wait: bool = False, out: TextIO | None = None
) -> int:
    """Print or submit `plan`; with `wait`, block until every job ends and return the first failure's code (or 0)."""
    out = out or sys.stdout
    if dry_run:
        print_plan(plan, out)
        return 0
    job_ids = submit_plan(plan, out)
    if not wait:
        return 0
    returncode = 0
    for script, job_id in zip(plan, job_ids, strict=True):
        result = slurm.wait_for_job(job_id)
        out.write(f"{script.name} job {job_id}: {result.state} exit code {result.exit_code}:{result.signal}\n")
        if script.name == "train" and result.state == "NODE_FAIL":
            out.write(f"train job {job_id} lost a node; its run folder keeps the last checkpoint: submit the same "
                      "command again to resume from it (--ckpt-path last, the default)\n")
        returncode = returncode or result.returncode
    return returncode
