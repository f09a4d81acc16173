"""Tables across runs: `fer cv` per-fold table with mean and interval, `fer protocols` side by side (and a real
three-protocol run, slow)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from lightning_fer.cli import main
from lightning_fer.commands.cv import summarize
from lightning_fer.evaluation import FramePredictions, evaluate
from lightning_fer.evaluation.compare import fold_summary, leakage_gap, mean_interval, protocol_table


def _metrics(right: int, subject: str, protocol: str = "subject") -> dict:
    """A test_metrics.json of one 10-frame clip of one child with ``right`` frames right."""
    probs = np.array([[0.9, 0.1] if f < right else [0.1, 0.9] for f in range(10)])
    evaluation = evaluate(FramePredictions(probs, np.zeros(10, int), np.zeros(10, int), [subject]), 2).to_dict()
    return {"accuracy": right / 10, "loss": 0.5, "protocol": protocol, "frames": 10, "evaluation": evaluation}


def test_fold_summary_mean_interval_and_table():
    folds = [_metrics(9, "S1"), _metrics(6, "S2"), _metrics(3, "S3")]
    summary = summarize(folds)
    assert summary["metrics"]["frame_accuracy"]["mean"] == pytest.approx(0.6)
    assert summary["metrics"]["clip_accuracy"]["per_fold"] == [1.0, 1.0, 0.0]
    low, high = summary["metrics"]["frame_accuracy"]["ci"]
    assert 0.3 <= low < 0.6 < high <= 0.9
    assert "| 1 | S2 | 10 | 1 | 60.00 | 100.00 |" in summary["markdown"]
    assert "| mean |  |  |  | 60.00 | 66.67 |" in summary["markdown"]
    assert mean_interval([0.5] * 4) == [0.5, 0.5]
    assert fold_summary([{"accuracy": 0.7}])["frame_accuracy"]["mean"] == 0.7  # runs from before evaluation


def test_protocol_table_side_by_side_and_leakage_gap():
    runs = {"frame": _metrics(10, "S1", "frame"), "video": _metrics(8, "S1", "video"),
            "subject": _metrics(6, "S1", "subject")}
    table = protocol_table(runs)
    assert table.splitlines()[0] == "| metric | `frame` | `video` | `subject` |"
    assert "| frame acc (%) | 100.00 [100.00, 100.00] | 80.00 [80.00, 80.00] | 60.00 [60.00, 60.00] |" in table
    assert "| test subjects | 1 | 1 | 1 |" in table and "| CI resamples | 1 clips | 1 clips | 1 clips |" in table
    assert leakage_gap(runs) == pytest.approx(0.4)
    assert leakage_gap({"frame": runs["frame"]}) is None


@pytest.mark.slow
@pytest.mark.timeout(1800)  # six LightningCLI runs; ~15 min on 2 cores shared with other jobs
def test_protocols_command_trains_three_protocols(small_prepared: Path, tmp_path: Path):
    code = main(["protocols", "--config", "configs/demo.yaml", "--run-dir", str(tmp_path), "--",
                 "--wandb", "false", "--data.data_dir", str(small_prepared), "--data.batch_size", "8",
                 "--data.eval_batch_size", "32", "--data.check_decode", "false", "--trainer.max_epochs", "1",
                 "--trainer.limit_train_batches", "2", "--trainer.limit_val_batches", "2",
                 "--trainer.limit_test_batches", "2"])  # "1" would parse as 1.0 = all
    assert code == 0
    result = json.loads((tmp_path / "protocols.json").read_text())
    assert list(result["runs"]) == ["frame", "video", "subject"]
    assert [r["protocol"] for r in result["runs"].values()] == ["frame", "video", "subject"]
    assert all(r["evaluation"]["frames"] == r["frames"] == 64 for r in result["runs"].values())  # 2 test batches
    assert result["leakage_gap"] == pytest.approx(result["runs"]["frame"]["accuracy"]
                                                  - result["runs"]["subject"]["accuracy"])
    table = (tmp_path / "protocols.md").read_text()
    assert "| metric | `frame` | `video` | `subject` |" in table and "Leakage gap" in table
