"""SLURM across two real hosts (network namespaces fer-node1/2 of cluster/local/multinode_up.sh): the nodes, a
job step spanning both, and the crop pass as an array spread over both nodes.

Run: pytest -m multinode tests/test_multinode_slurm.py (as root; skipped where namespaces cannot be made)
"""

from __future__ import annotations

import contextlib
import io
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lightning_fer.cli import main
from lightning_fer.cluster.slurm import job_records
from tests.multinode import Cluster

pytestmark = pytest.mark.multinode
PY = sys.executable


def fer_submit(argv: list[str]) -> tuple[int, str]:
    """`fer submit ...` in-process; (exit code, what it printed)."""
    with contextlib.redirect_stdout(io.StringIO()) as out:
        rc = main(["submit", *argv])
    return rc, out.getvalue()


def submitted(printed: str, kind: str) -> str:
    return printed.split(f"submitted {kind} job ")[1].split()[0]


def test_two_idle_nodes_and_a_step_on_both(multinode_cluster: Cluster, tmp_path: Path) -> None:
    nodes = subprocess.run(["sinfo", "-h", "-N", "-o", "%N %T"], capture_output=True, text=True, check=True).stdout
    assert sorted(nodes.split("\n")[:-1]) == ["fer-node1 idle", "fer-node2 idle"], nodes
    start = time.monotonic()
    rc, printed = fer_submit(["run", "--nodes", "2", "--time", "00:05:00", "--job-name", "fer-hosts", "--log-dir",
                              str(tmp_path), "--wait", "--", "sh", "-c",
                              'echo "task $SLURM_PROCID node $SLURM_NODEID $(hostname) $(hostname -I)"'])
    print(f"\n2-node srun job round trip: {time.monotonic() - start:.1f} s")
    job_id = submitted(printed, "run")
    log = (tmp_path / f"fer-hosts-{job_id}.out").read_text()
    assert rc == 0, printed + log
    (record,) = job_records(job_id)
    assert (record["NumNodes"], record["NodeList"], record["JobState"]) == ("2", "fer-node[1-2]", "COMPLETED")
    lines = sorted(line.split() for line in log.splitlines() if line.startswith("task "))
    net = multinode_cluster.net
    # srun -N 2: one task per host, each with that host's name and address
    assert [line[1:] for line in lines] == [["0", "node", "0", "fer-node1", f"{net}.1"],
                                            ["1", "node", "1", "fer-node2", f"{net}.2"]], log


def test_prepare_array_spread_over_both_nodes_then_merge(multinode_cluster: Cluster, tmp_path: Path) -> None:
    raw, out, logs = tmp_path / "raw", tmp_path / "faces", tmp_path / "logs"
    subprocess.run([PY, "-m", "lightning_fer.cli", "synth", str(raw), "--children", "2", "--videos-per-class", "1",
                    "--seconds", "1", "--workers", "2"], check=True, capture_output=True)
    videos = sorted(p.name for p in (raw / "videos").iterdir())
    start = time.monotonic()
    # each array task asks for a whole host's CPUs, so SLURM places the two shards on different hosts
    rc, printed = fer_submit(["prepare", str(raw / "videos"), str(out), "--array", "2", "--cpus-per-task", "2",
                              "--job-name", "fer-crop", "--time", "00:10:00", "--log-dir", str(logs),
                              "--prepare-args", "--workers 1 --no-progress", "--wait"])
    print(f"\nfer submit prepare over 2 hosts (2 shards + merge): {time.monotonic() - start:.1f} s")
    log = "\n".join(p.read_text() for p in sorted(logs.glob("*.out")))
    assert rc == 0, printed + log
    array = job_records(submitted(printed, "prepare"))
    assert sorted((r["ArrayTaskId"], r["JobState"]) for r in array) == [("0", "COMPLETED"), ("1", "COMPLETED")]
    assert sorted(r["NodeList"] for r in array) == ["fer-node1", "fer-node2"], array
    assert sorted(line.split(" on ")[1] for line in log.splitlines() if "crop shard" in line) == \
        ["fer-node1", "fer-node2"], log
    from lightning_fer.prepare import read_manifest

    manifest = read_manifest(out)
    assert len(manifest) == len(videos) == 12, log  # complete: one clip per source video, from both hosts
    assert all((out / clip).is_file() for clip in manifest["clip"])
