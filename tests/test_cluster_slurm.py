"""A real single-node SLURM (cluster/local/slurm_up.sh) running jobs submitted through the `fer submit` machinery.

The cluster (fixture slurm_cluster in conftest.py) gets its own state dir and ports, so a developer's
`slurm_up.sh` cluster is left alone; it is stopped at the end of the session and its daemons must be gone.
Run: pytest -m slow tests/test_cluster_slurm.py
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import pytest

from lightning_fer.cli import main
from lightning_fer.cluster.jobs import BatchScript, ray_script, run_script
from lightning_fer.cluster.resources import Resources
from lightning_fer.cluster.slurm import JobResult, job_records, wait_for_job
from lightning_fer.cluster.submit import submit_plan

pytestmark = pytest.mark.slow
PY = sys.executable


def submit_and_wait(plan: Sequence[BatchScript], timeout: float = 300) -> list[JobResult]:
    """Submit a plan through fer submit's machinery and wait for every job; the helper other SLURM tests reuse."""
    return [wait_for_job(job_id, timeout=timeout, poll=0.5) for job_id in submit_plan(plan)]


def scontrol_fields(job_id: str) -> dict[str, str]:
    """JobState, ExitCode, ... of a single job straight from `scontrol show job`."""
    (record,) = job_records(job_id)
    return record


def test_two_task_srun_job_round_trip(slurm_cluster: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "ranks"
    out.mkdir()
    code = (f"import os; rank = os.environ['SLURM_PROCID']; "
            f"open(os.path.join({str(out)!r}, 'rank' + rank), 'w').write(os.environ['SLURM_NTASKS'])")
    start = time.monotonic()
    rc = main(["submit", "run", "--tasks-per-node", "2", "--time", "00:05:00", "--job-name", "fer-ranks",
               "--log-dir", str(tmp_path / "logs"), "--wait", "--", PY, "-c", code])
    elapsed = time.monotonic() - start
    printed = capsys.readouterr().out
    print(f"2-task job round trip (submit, run, scontrol COMPLETED): {elapsed:.1f} s")
    assert rc == 0, printed
    job_id = printed.split("submitted run job ")[1].split()[0]
    fields = scontrol_fields(job_id)
    assert fields["JobState"] == "COMPLETED" and fields["ExitCode"] == "0:0" and fields["NumTasks"] == "2"
    assert sorted(p.name for p in out.iterdir()) == ["rank0", "rank1"]
    assert {p.read_text() for p in out.iterdir()} == {"2"}
    assert (tmp_path / "logs" / f"fer-ranks-{job_id}.out").exists()


def test_failing_job_returns_its_exit_code(slurm_cluster: Path, tmp_path: Path, capsys) -> None:
    rc = main(["submit", "run", "--log-dir", str(tmp_path), "--wait", "--", PY, "-c", "raise SystemExit(3)"])
    job_id = capsys.readouterr().out.split("submitted run job ")[1].split()[0]
    assert rc == 3
    fields = scontrol_fields(job_id)
    assert fields["JobState"] == "FAILED" and fields["ExitCode"] == "3:0"


def test_afterok_dependency_runs_in_order_and_cancels_on_failure(slurm_cluster: Path, tmp_path: Path) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    res = Resources(log_dir=str(tmp_path / "logs"), time="00:05:00")
    # The dependent job proves it ran after its dependency by reading what the dependency wrote.
    ok = [run_script(res, [PY, "-c", f"import time; time.sleep(2); open({str(first)!r}, 'w').write('1')"]),
          run_script(res, [PY, "-c", f"open({str(second)!r}, 'w').write(open({str(first)!r}).read())"])]
    ok[1].after_ok = 0
    results = submit_and_wait(ok)
    assert [r.state for r in results] == ["COMPLETED", "COMPLETED"] and second.read_text() == "1"

    failing = [run_script(res, [PY, "-c", "raise SystemExit(1)"]), run_script(res, ["true"])]
    failing[1].after_ok = 0
    first_result, second_result = submit_and_wait(failing)
    assert first_result.state == "FAILED" and second_result.state == "CANCELLED"


def test_fer_submit_prepare_array_and_merge_on_synthetic_videos(slurm_cluster: Path, tmp_path: Path,
                                                                capsys) -> None:
    raw, out, logs = tmp_path / "raw", tmp_path / "faces", tmp_path / "logs"
    subprocess.run([PY, "-m", "lightning_fer.cli", "synth", str(raw), "--children", "2", "--videos-per-class", "1",
                    "--seconds", "1", "--workers", "2"], check=True, capture_output=True)
    videos = sorted(p.name for p in (raw / "videos").iterdir())
    start = time.monotonic()
    rc = main(["submit", "prepare", str(raw / "videos"), str(out), "--array", "2", "--job-name", "fer-crop",
               "--time", "00:10:00", "--log-dir", str(logs), "--prepare-args", "--workers 1 --no-progress", "--wait"])
    printed = capsys.readouterr().out
    print(f"fer submit prepare: 2-task crop array + merge: {time.monotonic() - start:.1f} s")
    log = "\n".join(p.read_text() for p in sorted(logs.glob("*.out")))
    assert rc == 0, printed + log
    array_id = printed.split("submitted prepare job ")[1].split()[0]
    merge_id = printed.split("submitted merge job ")[1].split()[0]
    array_records = job_records(array_id)
    assert sorted(r["ArrayTaskId"] for r in array_records) == ["0", "1"]
    assert all((r["JobState"], r["ExitCode"]) == ("COMPLETED", "0:0") for r in array_records)
    (merge,) = job_records(merge_id)
    assert (merge["JobState"], merge["ExitCode"]) == ("COMPLETED", "0:0")
    assert "crop shard 0 of 2" in log and "crop shard 1 of 2" in log
    from lightning_fer.prepare import read_manifest

    manifest = read_manifest(out)
    assert len(manifest) == len(videos) == 12, log  # complete: one clip per source video, from both shards
    assert all((out / clip).is_file() for clip in manifest["clip"]), manifest["clip"].tolist()


def test_ray_cluster_inside_a_slurm_job(slurm_cluster: Path, tmp_path: Path) -> None:
    result_file = tmp_path / "ray.txt"
    driver = (f"{PY} -c \"import os, ray; ray.init(); "
              f"n = ray.get(ray.remote(lambda: len(ray.nodes())).remote()); "
              f"open({str(result_file)!r}, 'w').write(f'{{n}} ' + os.environ['RAY_ADDRESS'])\"")
    res = Resources(cpus_per_task=2, mem="6G", time="00:10:00", job_name="fer-ray", log_dir=str(tmp_path / "logs"))
    (result,) = submit_and_wait([ray_script(res, driver)], timeout=300)
    log = "\n".join(p.read_text() for p in (tmp_path / "logs").glob("*.out"))
    assert result.state == "COMPLETED", log
    nodes, address = result_file.read_text().split()
    assert nodes == "1" and address.endswith(f":{20000 + (int(result.job_id) % 2000) * 10}")
    time.sleep(2)  # SLURM ends the Ray step when the batch script exits
    leftover = subprocess.run(["pgrep", "-f", f"/tmp/ray-{result.job_id}"], capture_output=True, text=True).stdout
    assert not leftover.strip(), f"Ray processes of job {result.job_id} survived it: {leftover}"
