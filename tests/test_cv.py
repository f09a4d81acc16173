"""`fer cv`: fold aggregation arithmetic, and a real 2-fold run (slow)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lightning_fer.cli import main
from lightning_fer.commands.cv import summarize


def test_summarize_mean_and_sample_std():
    folds = [{"accuracy": 0.8, "loss": 0.5, "protocol": "subject", "frames": 10},
             {"accuracy": 0.6, "loss": 0.7, "protocol": "subject", "frames": 12}]
    summary = summarize(folds)
    assert summary["accuracy_mean"] == pytest.approx(0.7)
    assert summary["accuracy_std"] == pytest.approx(0.1414213, rel=1e-5)  # sample std of (0.8, 0.6)
    assert summary["protocol"] == "subject" and summary["folds"] == 2
    assert "70.00% +- 14.14%" in summary["markdown"]


def test_bad_fold_count_is_a_clear_error(capsys):
    assert main(["cv", "--config", "configs/demo.yaml", "--folds", "three"]) == 2
    assert "--folds 'three'" in capsys.readouterr().err


@pytest.mark.slow
def test_two_fold_video_cv_tests_every_video_once(small_prepared: Path, tmp_path: Path):
    code = main(["cv", "--config", "configs/demo.yaml", "--folds", "2", "--run-dir", str(tmp_path), "--",
                 "--wandb", "false", "--data.protocol", "video", "--data.data_dir", str(small_prepared),
                 "--data.batch_size", "8", "--trainer.limit_train_batches", "1", "--trainer.max_epochs", "1"])
    assert code == 0
    summary = json.loads((tmp_path / "cv_summary.json").read_text())
    assert summary["folds"] == 2 and summary["protocol"] == "video"
    from lightning_fer.prepare import read_manifest

    total_frames = int(read_manifest(small_prepared)["frames"].sum())
    assert sum(fold["frames"] for fold in summary["per_fold"]) == total_frames  # test folds partition the data
