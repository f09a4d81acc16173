"""Which checkpoint a requeued `fer fit --ckpt_path last` resumes from (fast; the real requeue is in
tests/test_cluster_train.py): Lightning's SIGUSR1 checkpoint hpc_ckpt_N.ckpt when it is the newest state."""

from __future__ import annotations

import os
from pathlib import Path

from lightning_fer.run_dirs import RunFolder


def newer_hpc_checkpoint(root: Path) -> Path | None:
    return RunFolder(root).newer_hpc_checkpoint()


def touch(path: Path, mtime: float) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"")
    os.utime(path, (mtime, mtime))
    return path


def test_no_hpc_checkpoint_keeps_last(tmp_path: Path) -> None:
    assert newer_hpc_checkpoint(tmp_path) is None  # nothing at all: `last` starts fresh
    touch(tmp_path / "checkpoints" / "last.ckpt", 100)
    assert newer_hpc_checkpoint(tmp_path) is None


def test_highest_hpc_checkpoint_newer_than_last_wins(tmp_path: Path) -> None:
    touch(tmp_path / "checkpoints" / "last.ckpt", 100)
    touch(tmp_path / "hpc_ckpt_1.ckpt", 150)
    newest = touch(tmp_path / "hpc_ckpt_2.ckpt", 200)
    touch(tmp_path / "hpc_ckpt_x.ckpt", 300)  # not Lightning's name: ignored
    assert newer_hpc_checkpoint(tmp_path) == newest


def test_hpc_checkpoint_without_last_wins(tmp_path: Path) -> None:
    assert newer_hpc_checkpoint(tmp_path) is None
    hpc = touch(tmp_path / "hpc_ckpt_1.ckpt", 100)
    assert newer_hpc_checkpoint(tmp_path) == hpc


def test_last_written_after_the_requeue_wins(tmp_path: Path) -> None:
    # resumed from hpc_ckpt_1, trained on and saved last.ckpt, then requeued again by `scontrol requeue`
    touch(tmp_path / "hpc_ckpt_1.ckpt", 100)
    touch(tmp_path / "checkpoints" / "last.ckpt", 200)
    assert newer_hpc_checkpoint(tmp_path) is None
