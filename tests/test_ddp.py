"""Real 2-process DDP on CPU (gloo) through `python -m lightning_fer.cli fit|validate`, against 1 process.

Lightning starts the second rank by re-running the same command, so every run is a subprocess. EvalProbe
(added with ``--trainer.callbacks+=tests.test_ddp.EvalProbe``) writes what each rank evaluated and the
reduced metrics into the run directory. Run: pytest -m slow tests/test_ddp.py
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import pytorch_lightning as pl

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[1]
COMMON = ["--config", "configs/demo.yaml", "--wandb", "false", "--trainer.accelerator", "cpu",
          "--trainer.log_every_n_steps", "1", "--trainer.enable_progress_bar", "false",
          "--data.eval_batch_size", "32", "--data.check_decode", "false"]
EPOCHS, STEPS_PER_EPOCH, GLOBAL_BATCH, PER_FORWARD = 4, 3, 16, 8
# From scratch on 16-frame steps the demo's Adam(1e-3) (and SGD 0.02 + momentum) first blow the loss up to
# 30-50 and back, which would compare two noisy spikes instead of two learning curves; Adam(1e-4) learns smoothly.
OPTIMIZER = ["--model.optimizer.lr", "0.0001"]


class EvalProbe(pl.Callback):
    """Per rank: the number of samples its validation loss averaged over; rank 0: the reduced metrics."""

    def on_validation_epoch_end(self, trainer, pl_module) -> None:
        # Callbacks run before the module's hook, so the metric states are still the rank's own, unsynced.
        local = {"rank": trainer.global_rank, "world_size": trainer.world_size,
                 "samples": int(pl_module.losses["val_"].weight.item())}
        (Path(trainer.default_root_dir) / f"eval_rank{trainer.global_rank}.json").write_text(json.dumps(local))

    def on_validation_end(self, trainer, pl_module) -> None:
        if trainer.is_global_zero:
            metrics = {k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith("val_")}
            (Path(trainer.default_root_dir) / "eval_metrics.json").write_text(json.dumps(metrics))


def fer(subcommand: str, data: Path, run: Path, devices: int, *extra: str) -> float:
    """Run `python -m lightning_fer.cli SUBCOMMAND` on `devices` CPU processes; return its wall time."""
    ddp = ["--trainer.devices", str(devices), "--trainer.strategy", "ddp" if devices > 1 else "auto"]
    cmd = [sys.executable, "-m", "lightning_fer.cli", subcommand, *COMMON, *ddp, "--data.data_dir", str(data),
           "--trainer.default_root_dir", str(run), "--trainer.callbacks+=tests.test_ddp.EvalProbe", *extra]
    # One intra-op thread per rank: 2 ranks on 2 cores do not oversubscribe, and 1 vs 2 ranks compute alike.
    env = {**os.environ, "OMP_NUM_THREADS": "1", "WANDB_MODE": "disabled"}
    start = time.monotonic()
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, f"{' '.join(cmd)}\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}"
    return time.monotonic() - start


def fit(data: Path, run: Path, devices: int) -> float:
    """Global batch 16 as 2 ranks x 8 frames, or as 1 rank accumulating 2 x 8 frames: 8 frames per forward (and
    BatchNorm batch) in both, one optimizer step on the mean gradient of 16 frames in both."""
    accumulate = GLOBAL_BATCH // (devices * PER_FORWARD)
    return fer("fit", data, run, devices, "--data.batch_size", str(PER_FORWARD),
               "--trainer.accumulate_grad_batches", str(accumulate), "--trainer.max_epochs", str(EPOCHS),
               "--trainer.limit_train_batches", str(STEPS_PER_EPOCH * accumulate),
               "--trainer.limit_val_batches", "1", *OPTIMIZER)


@pytest.fixture(scope="module")
def runs(small_prepared: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[int, Path]:
    """The same training (global batch 16, 4 epochs x 3 steps) on 1 process (1 x (2 x 8), accumulating two
    batches per step) and 2 processes (2 x 8)."""
    out = {}
    for devices in (1, 2):
        out[devices] = tmp_path_factory.mktemp(f"fit-{devices}proc")
        print(f"\nfit on {devices} process(es): {fit(small_prepared, out[devices], devices):.1f} s")
    return out


def test_validation_on_two_ranks_equals_one_rank(runs: dict[int, Path], small_prepared: Path,
                                                  tmp_path: Path) -> None:
    ckpt = runs[1] / "checkpoints" / "last.ckpt"
    evaluated = {}
    for devices in (1, 2):
        run = tmp_path / f"validate-{devices}"
        run.mkdir()
        seconds = fer("validate", small_prepared, run, devices, "--ckpt_path", str(ckpt))
        print(f"validate on {devices} process(es): {seconds:.1f} s")
        ranks = [json.loads(p.read_text()) for p in sorted(run.glob("eval_rank*.json"))]
        evaluated[devices] = (json.loads((run / "eval_metrics.json").read_text()), ranks)

    from lightning_fer.data.datamodule import FERDataModule

    val_frames = sum(r.frames for r in FERDataModule(data_dir=str(small_prepared)).prepare_splits()["val"])
    (one, [rank]), (two, ranks) = evaluated[1], evaluated[2]
    assert rank["samples"] == val_frames  # one process: every validation frame once
    assert [r["rank"] for r in ranks] == [0, 1] and all(r["world_size"] == 2 for r in ranks)
    assert all(r["samples"] > 0 for r in ranks)  # both ranks evaluated a share...
    assert sum(r["samples"] for r in ranks) == val_frames  # ...and together each frame exactly once
    for name in ("val_loss", "val_acc"):
        assert two[name] == pytest.approx(one[name], rel=1e-6, abs=1e-6), name


def test_two_processes_converge_like_one_with_the_same_global_batch(runs: dict[int, Path]) -> None:
    losses = {}
    for devices, run in runs.items():
        metrics = pd.read_csv(run / "metrics.csv")
        epochs = metrics.dropna(subset=["train_loss"]).sort_values("epoch")
        # train_loss is a MeanMetric over every rank's samples of the epoch: the global mean, not rank 0's
        losses[devices] = epochs["train_loss"].tolist()
        assert metrics["step"].max() + 1 == EPOCHS * STEPS_PER_EPOCH
    print(f"epoch train losses: 1 x (2 x 8) {losses[1]}, 2 x 8 {losses[2]}")
    for trajectory in losses.values():
        assert len(trajectory) == EPOCHS
        assert trajectory[-1] < trajectory[0]  # both learn
    # Same initial weights (rank 0's, broadcast), global batch, BatchNorm batch and lr; what differs is which
    # frames share a step (DALI shards are blocks of the epoch's order, shuffled in a buffer) and dropout masks.
    # On 12 steps from scratch that is a coarse check, and only coarse bounds hold: over four pairs of runs (two
    # with 1 x 16 instead of accumulation) the means of the last two epochs differed by 0.09 to 0.61 (2 x 8 ended
    # 2.0 to 2.7 from 3.1 to 3.2; one process ended 1.8 to 2.1 from 5.1 to 5.6). Exact synchronisation (equal
    # weights on every rank, the global batch summed over ranks) is asserted in tests/test_multinode_train.py.
    tolerance = 0.5 * math.log(6)
    late = {devices: sum(trajectory[-2:]) / 2 for devices, trajectory in losses.items()}
    assert abs(late[1] - late[2]) < tolerance, f"late-epoch means {late} vs tolerance {tolerance}"


def test_test_evaluation_gathers_every_rank_once(tiny_checkpoint: Path, small_prepared: Path, tmp_path: Path) -> None:
    """`fer test` on 2 ranks: the evaluation summary covers every test frame once, clips as on 1 rank."""
    from lightning_fer.data.datamodule import FERDataModule

    evaluations = {}
    for devices in (1, 2):
        run = tmp_path / f"test-{devices}"
        run.mkdir()
        fer("test", small_prepared, run, devices, "--ckpt_path", str(tiny_checkpoint))
        evaluations[devices] = json.loads((run / "reports" / "test_metrics.json").read_text())["evaluation"]
    test = FERDataModule(data_dir=str(small_prepared)).prepare_splits()["test"]
    one, two = evaluations[1], evaluations[2]
    assert one["frames"] == two["frames"] == sum(r.frames for r in test)
    assert one["clips"] == two["clips"] == len({r.clip for r in test})
    assert [c["frames"] for c in two["per_clip"]] == [r.frames for r in test]  # gathered whole, in clip order
    assert [(c["clip"], c["label"], c["predicted"]) for c in two["per_clip"]] == \
        [(c["clip"], c["label"], c["predicted"]) for c in one["per_clip"]]
    for key, entry in one["metrics"].items():
        assert two["metrics"][key]["value"] == pytest.approx(entry["value"], abs=1e-6), key
