"""The SLURM client calls `fer submit` needs: sbatch, and scontrol to read a job's state and exit code.

Waiting polls `scontrol show job` (1 s) rather than `sbatch --wait` (which polls every ~10 s) and follows
requeued jobs until they truly end. No accounting database is needed: scontrol keeps finished jobs for
MinJobAge (300 s by default).
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from lightning_fer.errors import UserError

TERMINAL_STATES = frozenset(
    {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "PREEMPTED", "OUT_OF_MEMORY", "BOOT_FAIL", "DEADLINE"}
)


@dataclass(frozen=True)
class JobResult:
    """How a job ended; `returncode` follows the shell: the exit code, or 128 + signal."""

    job_id: str
    state: str
    exit_code: int
    signal: int

    @property
    def returncode(self) -> int:
        if self.state == "COMPLETED":
            return 0
        return self.exit_code or (128 + self.signal if self.signal else 1)


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise UserError(
            f"{name} not found on PATH: run on a SLURM login node, or start a local cluster with "
            "`sudo cluster/local/slurm_up.sh` (docs/CLUSTER.md); --dry-run prints the script without SLURM"
        )
    return path


def sbatch(script: Path, args: Sequence[str] = ()) -> str:
    """Submit `script` with extra sbatch `args`; return the job id."""
    cmd = [_tool("sbatch"), "--parsable", *args, str(script)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise UserError(f"sbatch rejected {script}: {proc.stderr.strip() or proc.stdout.strip()}")
    return proc.stdout.strip().split(";")[0]


def job_records(job_id: str) -> list[dict[str, str]]:
    """`scontrol show job -o ID` as one dict per job (an array job gives one per task or task range)."""
    proc = subprocess.run([_tool("scontrol"), "show", "job", "-o", str(job_id)], capture_output=True, text=True)
    if proc.returncode != 0:
        raise UserError(
            f"scontrol does not know job {job_id} (finished more than MinJobAge ago?): {proc.stderr.strip()}"
        )
    records = []
    for line in proc.stdout.splitlines():
        if line.strip():
            records.append(dict(token.partition("=")[::2] for token in line.split() if "=" in token))
    return records


def job_result(job_id: str) -> JobResult | None:
    """The job's end state, or None while any part of it is pending, running or requeued."""
    records = job_records(job_id)
    if not records or any(rec.get("JobState") not in TERMINAL_STATES for rec in records):
        return None
    worst = max(records, key=lambda rec: (rec["JobState"] != "COMPLETED", rec.get("ExitCode", "0:0")))
    code, _, sig = worst.get("ExitCode", "0:0").partition(":")
    return JobResult(str(job_id), worst["JobState"], int(code), int(sig or 0))


def wait_for_job(job_id: str, timeout: float | None = None, poll: float = 1.0) -> JobResult:
    """Block until the job (every task of an array) has ended; raise TimeoutError after `timeout` seconds."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        result = job_result(job_id)
        if result is not None:
            return result
        if deadline is not None and time.monotonic() > deadline:
            raise TimeoutError(f"SLURM job {job_id} still not finished after {timeout:.0f} s")
        time.sleep(poll)
