"""Real CPU training through `fer fit` / `fer test` (LightningCLI, DALI loaders, ResNet-50) on a small
prepared synthetic dataset: files written, the best checkpoint evaluated, Table 3, exact resume."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from lightning_fer.cli import main

TINY = ["--config", "configs/demo.yaml", "--wandb", "false", "--data.batch_size", "8",
        "--data.eval_batch_size", "32", "--trainer.limit_train_batches", "2", "--trainer.log_every_n_steps", "1"]


def fit(data: Path, run: Path, *extra: str) -> int:
    return main(["fit", *TINY, "--data.data_dir", str(data), "--trainer.default_root_dir", str(run), *extra])


@pytest.fixture(scope="module")
def trained_run(small_prepared: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    run = tmp_path_factory.mktemp("run")
    assert fit(small_prepared, run, "--trainer.max_epochs", "2") == 0
    return run


def test_fit_writes_checkpoints_config_and_metrics(trained_run: Path):
    assert (trained_run / "checkpoints" / "best.ckpt").is_file()
    assert (trained_run / "checkpoints" / "last.ckpt").is_file()
    config = (trained_run / "config.yaml").read_text()
    assert "protocol: subject" in config and "hidden_size: 512" in config
    metrics = pd.read_csv(trained_run / "metrics.csv")
    val_loss = metrics["val_loss"].dropna()
    assert len(val_loss) == 2  # one validation per epoch
    best = torch.load(trained_run / "checkpoints" / "best.ckpt", map_location="cpu", weights_only=False)
    last = torch.load(trained_run / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)
    assert "callbacks" not in best  # best.ckpt holds weights (and the fer record) only; last.ckpt the bookkeeping
    callback_state = next(v for k, v in last["callbacks"].items() if "BestCheckpoint" in k)
    assert callback_state["best_model_score"].item() == pytest.approx(val_loss.min(), rel=1e-5)
    assert Path(callback_state["best_model_path"]).name == "best.ckpt"
    assert last["global_step"] == 4  # 2 epochs x 2 steps: the newest state, improved val_loss or not
    assert best["global_step"] == 2 * (int(val_loss.values.argmin()) + 1)  # the epoch with the lowest val_loss


def test_val_clip_acc_is_soft_voting_over_every_validation_frame(trained_run: Path, small_prepared: Path):
    """val_clip_acc of the last epoch, recomputed from last.ckpt and the run's validation loader by a second path
    (NumPy: each clip's label from its frames' mean probabilities)."""
    from lightning_fer.lightning_cli import make_cli
    from lightning_fer.module import FERModule

    logged = pd.read_csv(trained_run / "metrics.csv")["val_clip_acc"].dropna()
    assert len(logged) == 2  # every validation epoch (the sanity check is not logged)
    module = FERModule.load_from_checkpoint(trained_run / "checkpoints" / "last.ckpt", map_location="cpu").eval()
    data = make_cli([*TINY, "--data.data_dir", str(small_prepared)], run=False).datamodule  # the run's settings
    data.setup("validate")
    probs, labels, clips = [], [], []
    with torch.no_grad():
        for frames, batch_labels, batch_clips in data.val_dataloader():
            probs.append(torch.softmax(module(frames), dim=1).numpy())
            labels.append(batch_labels.numpy())
            clips.append(batch_clips.numpy())
    probs, labels, clips = np.concatenate(probs), np.concatenate(labels), np.concatenate(clips)
    ids = np.unique(clips)
    assert len(ids) > 1 and all(len(np.unique(labels[clips == c])) == 1 for c in ids)
    correct = [np.argmax(probs[clips == c].mean(axis=0)) == labels[clips == c][0] for c in ids]
    assert logged.iloc[-1] == pytest.approx(np.mean(correct), abs=1e-6)


def test_test_evaluates_best_checkpoint_and_writes_table3(trained_run: Path, small_prepared: Path):
    code = main(["test", *TINY, "--data.data_dir", str(small_prepared), "--trainer.default_root_dir", str(trained_run)])
    assert code == 0
    reports = trained_run / "reports"
    metrics = json.loads((reports / "test_metrics.json").read_text())
    assert metrics["protocol"] == "subject"
    assert metrics["checkpoint"].endswith("best.ckpt")
    from lightning_fer.data.datamodule import FERDataModule

    splits = FERDataModule(data_dir=str(small_prepared)).prepare_splits()
    test_frames = sum(r.frames for r in splits["test"])
    assert metrics["frames"] == test_frames  # every test frame evaluated exactly once
    confmat = metrics["confusion_matrix"]
    assert len(confmat) == 6 and sum(map(sum, confmat)) == test_frames
    table = (reports / "test_table3.md").read_text()
    assert "| Average |" in table and "Precision (%)" in table and "protocol `subject`" in table
    assert (reports / "test_confusion.png").stat().st_size > 1000
    # the default really evaluated best.ckpt: same loss as naming it explicitly
    best = trained_run / "checkpoints" / "best.ckpt"
    assert main(["test", *TINY, "--data.data_dir", str(small_prepared), "--trainer.default_root_dir",
                 str(trained_run), "--ckpt_path", str(best)]) == 0
    explicit = json.loads((reports / "test_metrics.json").read_text())
    assert explicit["loss"] == pytest.approx(metrics["loss"], rel=1e-6)
    assert explicit["confusion_matrix"] == metrics["confusion_matrix"]


def test_test_without_checkpoint_is_a_clear_error(small_prepared: Path, tmp_path: Path, capsys):
    code = main(["test", *TINY, "--data.data_dir", str(small_prepared), "--trainer.default_root_dir", str(tmp_path)])
    assert code == 2
    assert "best.ckpt does not exist" in capsys.readouterr().err


def test_resumed_run_ends_with_the_same_weights(small_prepared: Path, tmp_path: Path):
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    assert fit(small_prepared, straight, "--trainer.max_epochs", "2") == 0
    assert fit(small_prepared, resumed, "--trainer.max_epochs", "1") == 0
    assert fit(small_prepared, resumed, "--trainer.max_epochs", "2", "--ckpt_path", "last") == 0
    # the first invocation's metrics survive the resume
    assert len(pd.read_csv(resumed / "metrics.1.csv")["val_loss"].dropna()) == 1
    assert len(pd.read_csv(resumed / "metrics.csv")["val_loss"].dropna()) == 1
    a = torch.load(straight / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)
    b = torch.load(resumed / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)
    assert a["global_step"] == b["global_step"] == 4
    for name, tensor in a["state_dict"].items():
        torch.testing.assert_close(b["state_dict"][name], tensor, rtol=0, atol=1e-6, msg=name)
    # and the optimizer state (Adam moments) continued rather than restarting
    moment_a = a["optimizer_states"][0]["state"][0]["exp_avg"]
    torch.testing.assert_close(b["optimizer_states"][0]["state"][0]["exp_avg"], moment_a, rtol=0, atol=1e-6)


def test_wandb_runs_offline_without_credentials(small_prepared: Path, tmp_path: Path, monkeypatch):
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.setenv("NETRC", str(tmp_path / "no-netrc"))
    monkeypatch.delenv("WANDB_MODE", raising=False)
    assert fit(small_prepared, tmp_path / "run", "--trainer.max_epochs", "1", "--wandb", "true",
               "--trainer.limit_val_batches", "1") == 0
    offline_runs = list((tmp_path / "run" / "wandb").glob("offline-run-*"))
    assert len(offline_runs) == 1
    assert any(offline_runs[0].rglob("*.wandb"))
    samples = list(offline_runs[0].rglob("samples_*.png"))  # preprocessed frames logged at the first validation
    assert len(samples) == 8


def test_logged_macro_f1_and_the_test_report_agree_on_the_same_predictions(trained_run: Path, small_prepared: Path):
    """One macro-F1 (over all six classes): `fer test` logs test_f1_macro and writes the report's frame macro-F1
    from the same predictions, and the report states the definition."""
    from lightning_fer.evaluation import macro_f1

    assert main(["test", *TINY, "--data.data_dir", str(small_prepared), "--trainer.default_root_dir",
                 str(trained_run)]) == 0
    logged = pd.read_csv(trained_run / "test" / "metrics.csv").dropna(subset=["test_f1_macro"])
    report = json.loads((trained_run / "reports" / "test_metrics.json").read_text())
    frame_f1 = report["evaluation"]["metrics"]["frame_macro_f1"]["value"]
    assert float(logged["test_f1_macro"].iloc[-1]) == pytest.approx(frame_f1, abs=1e-6)
    assert frame_f1 == pytest.approx(macro_f1(np.array(report["confusion_matrix"])))
    assert "mean F1 over all 6 classes" in (trained_run / "reports" / "test_table3.md").read_text()
