"""2-GPU DDP with NCCL through `python -m lightning_fer.cli fit`: both ranks train on their DALI shard on their
own GPU and the process group is NCCL. Skipped with fewer than 2 GPUs (one H200 in gpu_check.sh)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(torch.cuda.device_count() < 2, reason="needs 2 GPUs")]
REPO = Path(__file__).resolve().parents[1]


class BackendProbe(pl.Callback):
    """Per rank: the process group backend, world size and the device the module lives on."""

    def on_train_end(self, trainer, pl_module) -> None:
        record = {"rank": trainer.global_rank, "world_size": trainer.world_size,
                  "backend": torch.distributed.get_backend() if torch.distributed.is_initialized() else None,
                  "device": str(pl_module.device), "steps": trainer.global_step}
        (Path(trainer.default_root_dir) / f"backend_rank{trainer.global_rank}.json").write_text(json.dumps(record))


def test_two_gpu_ddp_with_nccl(small_prepared: Path, tmp_path: Path):
    pytest.importorskip("nvidia.dali", reason="the DALI loader shards per rank")
    cmd = [sys.executable, "-m", "lightning_fer.cli", "fit", "--config", "configs/demo.yaml", "--wandb", "false",
           "--data.data_dir", str(small_prepared), "--data.protocol", "frame", "--data.batch_size", "32",
           "--data.check_decode", "false", "--trainer.accelerator", "gpu", "--trainer.devices", "2",
           "--trainer.strategy", "ddp", "--trainer.precision", "bf16-mixed", "--trainer.max_epochs", "1",
           "--trainer.limit_train_batches", "3", "--trainer.limit_val_batches", "1",
           "--trainer.enable_progress_bar", "false", "--trainer.default_root_dir", str(tmp_path),
           "--trainer.callbacks+=tests.test_gpu_ddp.BackendProbe"]
    proc = subprocess.run(cmd, cwd=REPO, env={**os.environ, "WANDB_MODE": "disabled"}, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-4000:]
    records = [json.loads(p.read_text()) for p in sorted(tmp_path.glob("backend_rank*.json"))]
    assert [r["rank"] for r in records] == [0, 1]
    assert all(r["backend"] == "nccl" and r["world_size"] == 2 and r["steps"] == 3 for r in records)
    assert {r["device"] for r in records} == {"cuda:0", "cuda:1"}
    assert (tmp_path / "checkpoints" / "best.ckpt").is_file()
