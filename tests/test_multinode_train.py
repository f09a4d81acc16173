"""`fer submit train` as one DDP rank on each of two real hosts (fer-node1/2 of cluster/local/multinode_up.sh,
gloo over the bridge): what every rank saw, a requeue mid-run, and a host failing mid-run.

MultinodeProbe (added with ``--trainer.callbacks+=tests.test_multinode_train.MultinodeProbe``) writes, per rank,
probe_rank<r>.json into the run directory: its host, node rank, local rank and rendezvous address, the frames of
every training step on this rank and summed over all ranks (the global batch, through the DDP process group), a
fingerprint of every validation frame it evaluated, and a digest of its final weights.
Run: pytest -m multinode tests/test_multinode_train.py (as root)
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import pytorch_lightning as pl
import torch

from lightning_fer.cluster.slurm import job_records, wait_for_job
from tests.multinode import Cluster, wait_until
from tests.test_cluster_train import job_log, release_requeued, submit, wait_mid_run

pytestmark = pytest.mark.multinode
REPO = Path(__file__).resolve().parents[1]
EPOCHS, STEPS_PER_EPOCH, BATCH = 2, 2, 8
FIT_ARGS = ["--wandb", "false", "--data.batch_size", str(BATCH), "--data.eval_batch_size", "32",
            "--trainer.max_epochs", str(EPOCHS), "--trainer.limit_train_batches", str(STEPS_PER_EPOCH),
            "--trainer.num_sanity_val_steps", "0", "--trainer.log_every_n_steps", "1",
            "--trainer.enable_progress_bar", "false", "--trainer.callbacks+=tests.test_ddp.EvalProbe",
            "--trainer.callbacks+=tests.test_multinode_train.MultinodeProbe"]


def weights_digest(state_dict: dict[str, torch.Tensor]) -> str:
    digest = hashlib.sha256()
    for name in sorted(state_dict):
        digest.update(name.encode())
        digest.update(state_dict[name].detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


class MultinodeProbe(pl.Callback):
    """Per rank: where it ran, what it trained on and evaluated, and its final weights (see the module doc)."""

    def __init__(self) -> None:
        self.steps: list[tuple[int, int]] = []
        self.val: list[str] = []

    def on_fit_start(self, trainer, pl_module) -> None:
        env = trainer.strategy.cluster_environment
        self.where = {"rank": trainer.global_rank, "world_size": trainer.world_size, "node_rank": trainer.node_rank,
                      "local_rank": trainer.local_rank, "host": socket.gethostname(),
                      "address": socket.gethostbyname(socket.gethostname()), "main_address": env.main_address,
                      "environment": type(env).__name__, "slurm_nodeid": os.environ.get("SLURM_NODEID")}
        print(f"[probe] rank {trainer.global_rank} of {trainer.world_size} on {self.where['host']} "
              f"(node rank {trainer.node_rank}, local rank {trainer.local_rank})", flush=True)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        frames = int(batch[1].numel())
        total = trainer.strategy.reduce(torch.tensor(float(frames)), reduce_op="sum")
        self.steps.append((frames, int(total.item())))

    def on_validation_epoch_start(self, trainer, pl_module) -> None:
        self.val = []

    def on_validation_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0) -> None:
        for frame, label in zip(batch[0], batch[1], strict=True):
            pixels = np.round(frame.float().cpu().numpy(), 2).tobytes()
            self.val.append(hashlib.sha1(pixels + bytes([int(label)])).hexdigest())

    def on_train_end(self, trainer, pl_module) -> None:
        record = {**self.where, "steps": self.steps, "val": self.val, "weights": weights_digest(pl_module.state_dict())}
        path = Path(trainer.default_root_dir) / f"probe_rank{trainer.global_rank}.json"
        path.write_text(json.dumps(record))


def submit_args(data: Path, run: Path, logs: Path, name: str, *extra: str) -> list[str]:
    return ["submit", "train", "--config", "configs/demo.yaml", "--cluster-config", "configs/cluster/local_cpu.yaml",
            "--nodes", "2", "--tasks-per-node", "1", "--log-dir", str(logs), "--job-name", name, "--time", "00:30:00",
            *extra, "--", *FIT_ARGS, "--data.data_dir", str(data), "--trainer.default_root_dir", str(run)]


def submit_train(data: Path, run: Path, logs: Path, name: str, wait: bool) -> str:
    """`fer submit train` on 2 nodes x 1 task; return the job id."""
    return submit(submit_args(data, run, logs, name, *(["--wait"] if wait else [])), logs)


def probes(run: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(run.glob("probe_rank*.json"))]


def assert_trained_on_both_hosts(cluster: Cluster, run: Path, log: str) -> dict:
    """Both ranks ran, one per host, met at host 1's address and ended with the same weights; returns last.ckpt."""
    ranks = probes(run)
    assert [(r["rank"], r["world_size"], r["node_rank"], r["local_rank"]) for r in ranks] == \
        [(0, 2, 0, 0), (1, 2, 1, 0)], log[-4000:]
    assert [(r["host"], r["address"], r["slurm_nodeid"]) for r in ranks] == \
        [("fer-node1", cluster.addr(1), "0"), ("fer-node2", cluster.addr(2), "1")]
    assert {(r["environment"], r["main_address"]) for r in ranks} == {("SLURMEnvironment", "fer-node1")}
    assert "[probe] rank 0 of 2 on fer-node1" in log and "[probe] rank 1 of 2 on fer-node2" in log, log[-4000:]
    checkpoint = torch.load(run / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)
    assert ranks[0]["weights"] == ranks[1]["weights"] == weights_digest(checkpoint["state_dict"])
    return checkpoint


@pytest.fixture(scope="module")
def uninterrupted(multinode_cluster: Cluster, small_prepared: Path,
                  tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path, Path]:
    """One 2-node training job run to the end: (job id, run dir, log dir)."""
    run, logs = tmp_path_factory.mktemp("mn-run"), tmp_path_factory.mktemp("mn-logs")
    start = time.monotonic()
    job_id = submit_train(small_prepared, run, logs, "fer-2nodes", True)
    print(f"\n2-node DDP fer submit train --wait ({EPOCHS} epochs x {STEPS_PER_EPOCH} steps): "
          f"{time.monotonic() - start:.1f} s")
    return job_id, run, logs


def test_two_node_ddp_training_job(multinode_cluster: Cluster, uninterrupted: tuple[str, Path, Path],
                                   small_prepared: Path) -> None:
    job_id, run, logs = uninterrupted
    (record,) = job_records(job_id)
    assert (record["JobState"], record["ExitCode"], record["NumNodes"], record["NumTasks"]) == \
        ("COMPLETED", "0:0", "2", "2")
    log = job_log(logs, "fer-2nodes", job_id)
    script = next((logs / "scripts").glob("fer-2nodes-*.sbatch")).read_text()
    assert "--trainer.devices=1" in script and "--trainer.num_nodes=2" in script
    checkpoint = assert_trained_on_both_hosts(multinode_cluster, run, log)
    assert checkpoint["global_step"] == EPOCHS * STEPS_PER_EPOCH
    ranks = probes(run)
    # the global batch: every step, each rank trained on BATCH frames and the process group summed 2 x BATCH
    for r in ranks:
        assert r["steps"] == [[BATCH, 2 * BATCH]] * (EPOCHS * STEPS_PER_EPOCH), r["steps"]
    from lightning_fer.data.datamodule import FERDataModule

    val_frames = sum(r.frames for r in FERDataModule(data_dir=str(small_prepared)).prepare_splits()["val"])
    shards = [set(r["val"]) for r in ranks]
    # DALI shards by global rank across hosts: disjoint, together the whole validation split, each frame once
    assert all(len(s) == len(r["val"]) > 0 for s, r in zip(shards, ranks, strict=True))
    assert not shards[0] & shards[1]
    assert len(shards[0]) + len(shards[1]) == val_frames
    evaluated = [json.loads(p.read_text()) for p in sorted(run.glob("eval_rank*.json"))]
    assert [e["samples"] for e in evaluated] == [len(s) for s in shards]  # the val loss averaged over exactly these


def test_requeued_two_node_job_resumes_on_both_hosts(multinode_cluster: Cluster,
                                                     uninterrupted: tuple[str, Path, Path],
                                                     small_prepared: Path, tmp_path: Path) -> None:
    run, logs = tmp_path / "run", tmp_path / "logs"
    start = time.monotonic()
    job_id = submit_train(small_prepared, run, logs, "fer-requeue", False)
    wait_mid_run(job_id, run)
    # what SLURM sends before the time limit with --signal=SIGUSR1@90: SIGUSR1 to every task, on both hosts
    subprocess.run(["scancel", "--signal=USR1", job_id], check=True)
    release_requeued(job_id, timeout=300)
    result = wait_for_job(job_id, timeout=900, poll=1)
    print(f"\n2-node requeue: job ended {time.monotonic() - start:.1f} s after submit")
    log = job_log(logs, "fer-requeue", job_id)
    assert (result.state, result.exit_code) == ("COMPLETED", 0), log[-4000:]
    assert f"job {job_id} restart 0" in log and f"job {job_id} restart 1" in log
    assert (run / "hpc_ckpt_1.ckpt").is_file(), log[-4000:]
    interrupted_at = torch.load(run / "hpc_ckpt_1.ckpt", map_location="cpu", weights_only=False)["global_step"]
    assert 0 < interrupted_at < EPOCHS * STEPS_PER_EPOCH, log[-4000:]  # it really was mid-run
    checkpoint = assert_trained_on_both_hosts(multinode_cluster, run, log)
    straight = torch.load(uninterrupted[1] / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)
    assert checkpoint["global_step"] == straight["global_step"] == EPOCHS * STEPS_PER_EPOCH


def test_host_failure_fails_the_job_and_a_resubmit_finishes_from_last_ckpt(multinode_cluster: Cluster,
                                                                          small_prepared: Path,
                                                                          tmp_path: Path) -> None:
    """Host 2 dies mid-run (slurmd, the job step and rank 1 with it). SLURM sets it DOWN after SlurmdTimeout and
    ends the job NODE_FAIL; with `--no-requeue` `fer submit --wait` reports that state and exits non-zero, the run
    folder keeps its last.ckpt, and the same command submitted again (`--ckpt-path last`, the default) resumes
    from it on both hosts and finishes. (Without --no-requeue SLURM requeues the job itself: train.sbatch.)"""
    run, logs = tmp_path / "run", tmp_path / "logs"
    command = [sys.executable, "-m", "lightning_fer.cli",
               *submit_args(small_prepared, run, logs, "fer-hostfail", "--no-requeue", "--wait")]
    start = time.monotonic()
    waiting = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        def first_epoch_ended() -> bool:
            if (run / "checkpoints" / "last.ckpt").exists():
                return True
            assert waiting.poll() is None, f"fer submit --wait ended before any last.ckpt: {waiting.stdout.read()}"
            return False

        wait_until(first_epoch_ended, 600, "the first epoch's last.ckpt")
        saved = torch.load(run / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)["global_step"]
        assert multinode_cluster.fail_host(2)
        failed = time.monotonic()
        printed, _ = waiting.communicate(timeout=600)
    finally:
        waiting.kill()
    (job_id,) = _job_ids(logs)
    print(f"\nhost 2 killed; job {job_id} ended {time.monotonic() - failed:.1f} s later")
    assert waiting.returncode != 0, printed
    assert f"train job {job_id}: NODE_FAIL" in printed and "lost a node" in printed, printed
    assert 0 < saved < EPOCHS * STEPS_PER_EPOCH  # the run was mid-way when the host died
    kept = torch.load(run / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)["global_step"]
    assert kept >= saved  # the last checkpoint survived the failure

    multinode_cluster.up_again()  # the host is back: its slurmd registers, the node returns to service
    wait_until(lambda: _node_state(2).startswith("idle"), 120, "fer-node2 idle again")
    resubmitted = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=900)
    print(f"host failure + resubmit + resume: {time.monotonic() - start:.1f} s in all")
    log = job_log(logs, "fer-hostfail", _job_ids(logs)[-1])
    assert resubmitted.returncode == 0, resubmitted.stdout + log[-4000:]
    assert f"Restoring states from the checkpoint path at {run / 'checkpoints' / 'last.ckpt'}" in log, log[-4000:]
    checkpoint = assert_trained_on_both_hosts(multinode_cluster, run, log)
    assert checkpoint["global_step"] == EPOCHS * STEPS_PER_EPOCH


def _node_state(k: int) -> str:
    return subprocess.run(["sinfo", "-h", "-N", "-n", f"fer-node{k}", "-o", "%T"], capture_output=True,
                          text=True).stdout.strip()


def _job_ids(logs: Path) -> list[str]:
    """The ids of the fer-hostfail jobs whose logs are in `logs`, in submission order."""
    return sorted((p.stem.rsplit("-", 1)[1] for p in logs.glob("fer-hostfail-*.out")), key=int)
