"""Real 2-process DDP on CPU (gloo) through `python -m lightning_fer.cli fit|validate`, against 1 process.

Lightning starts the second rank by re-running the same command, so every run is a subprocess. EvalProbe
(added with ``--trainer.callbacks+=tests.test_ddp.EvalProbe``) writes what each rank evaluated and the
reduced metrics into the run directory. Run: pytest -m slow tests/test_ddp.py
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[1]
COMMON = ["--config", "configs/demo.yaml", "--wandb", "false", "--trainer.accelerator", "cpu",
          "--trainer.log_every_n_steps", "1", "--trainer.enable_progress_bar", "false",
          "--data.eval_batch_size", "32", "--data.check_decode", "false"]
PER_RANK = 8  # frames per rank and step: a global batch of 16 on 2 ranks
# Gradients after DDP's all-reduce against the 1-process gradient of the same 16 frames (computed with one thread,
# as each rank runs), as the largest absolute difference over all parameters divided by the largest absolute
# gradient. Measured over 6 repetitions of test_one_ddp_step_matches_one_process: 0.0, 0.0, 0.0, 0.0, 0.0, 0.0
# (bitwise equal; largest gradient 44.29). For scale: the same reference on 2 threads differs by 1.2e-2 (another
# summation order in the convolutions), and rank 0's gradient alone by 0.89 to 0.91 (a missing all-reduce).
GRAD_TOLERANCE = 1e-6


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


def digest(module: torch.nn.Module) -> str:
    """SHA-1 over every parameter (not the BatchNorm statistics, which DDP broadcasts only at the next forward)."""
    sha = hashlib.sha1()
    for name, param in module.named_parameters():
        sha.update(name.encode() + param.detach().cpu().numpy().tobytes())
    return sha.hexdigest()


class StepProbe(pl.Callback):
    """Per rank, at the first training step: its batch, the weights before the step (rank 0: all of them), the
    gradients the optimizer steps with (after DDP's all-reduce) and a digest of the weights after it."""

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if trainer.global_step:
            return
        self.record = {"frames": batch[0].detach().cpu().clone(), "labels": batch[1].detach().cpu().clone(),
                       "before": digest(pl_module)}
        if trainer.global_rank == 0:  # before the forward pass updates the BatchNorm statistics
            self.record["state"] = {k: v.detach().cpu().clone() for k, v in pl_module.model.state_dict().items()}

    def on_before_optimizer_step(self, trainer, pl_module, optimizer) -> None:
        if not trainer.global_step:
            self.record["grads"] = {n: p.grad.detach().cpu().clone() for n, p in pl_module.model.named_parameters()}

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if trainer.global_step == 1 and "after" not in self.record:
            self.record["after"] = digest(pl_module)
            torch.save(self.record, Path(trainer.default_root_dir) / f"step_rank{trainer.global_rank}.pt")


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


def test_validation_on_two_ranks_equals_one_rank(tiny_checkpoint: Path, small_prepared: Path,
                                                  tmp_path: Path) -> None:
    ckpt = tiny_checkpoint
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


def one_process_gradient(records: list[dict]) -> dict[str, torch.Tensor]:
    """The gradient one process computes for the ranks' batches together: the mean over the ranks' batches of
    each batch's mean-loss gradient (BatchNorm statistics per batch, as on the ranks), from rank 0's weights."""
    from lightning_fer.module import FERModule

    module = FERModule(dropout=0.0)
    module.model.load_state_dict(records[0]["state"])
    module.train()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as each rank (OMP_NUM_THREADS=1): other thread counts sum convolutions otherwise
    try:
        for record in records:
            module.loss(module(record["frames"]), record["labels"], "train").backward()
    finally:
        torch.set_num_threads(threads)
    return {n: p.grad / len(records) for n, p in module.model.named_parameters()}


def test_one_ddp_step_matches_one_process(small_prepared: Path, tmp_path: Path) -> None:
    """One optimizer step on 2 ranks: the same weights on both before and after, and the gradient it stepped with
    equal to the 1-process gradient of the same global batch (no dropout, so the gradient is a function of the
    frames and weights alone)."""
    fer("fit", small_prepared, tmp_path, 2, "--data.batch_size", str(PER_RANK), "--trainer.max_steps", "1",
        "--trainer.limit_val_batches", "0", "--model.dropout", "0", "--trainer.callbacks+=tests.test_ddp.StepProbe")
    records = [torch.load(tmp_path / f"step_rank{rank}.pt", weights_only=False) for rank in (0, 1)]
    assert records[0]["before"] == records[1]["before"]  # rank 0's initial weights, broadcast
    assert records[0]["after"] == records[1]["after"] != records[0]["before"]  # one identical step on both
    assert all(len(r["labels"]) == PER_RANK for r in records)
    assert not torch.equal(records[0]["frames"], records[1]["frames"])  # each rank its own shard
    for name, grad in records[0]["grads"].items():
        assert torch.equal(grad, records[1]["grads"][name]), name  # the all-reduced gradient, on every rank
    reference = one_process_gradient(records)
    scale = max(float(g.abs().max()) for g in reference.values())
    error = max(float((records[0]["grads"][n] - g).abs().max()) for n, g in reference.items()) / scale
    print(f"\nlargest gradient difference / largest gradient: {error:.3g} (largest gradient {scale:.3g})")
    assert error < GRAD_TOLERANCE


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
