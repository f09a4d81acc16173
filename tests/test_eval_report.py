"""A real tiny `fer fit` (pretrained-style init, frozen early stages, class-weighted loss) and `fer test`:
the test report gains clip-level, balanced and per-subject results over every test frame."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from torchvision.models import resnet50

from lightning_fer.cli import main
from lightning_fer.data.balance import class_frames, class_weights
from lightning_fer.data.datamodule import FERDataModule

TINY = ["--config", "configs/demo.yaml", "--wandb", "false", "--data.batch_size", "8", "--data.eval_batch_size", "32",
        "--trainer.limit_train_batches", "2", "--trainer.max_epochs", "1"]


@pytest.mark.slow
def test_fit_with_transfer_and_weights_then_test_reports_clip_and_subject_results(small_prepared: Path,
                                                                                  tmp_path: Path, capsys):
    torch.manual_seed(0)
    source = resnet50().state_dict()
    torch.save(source, tmp_path / "resnet50.pth")
    run = tmp_path / "run"
    common = [*TINY, "--data.data_dir", str(small_prepared), "--trainer.default_root_dir", str(run)]
    assert main(["fit", *common, "--model.init_from", str(tmp_path / "resnet50.pth"),
                 "--model.class_weighted_loss", "true",
                 "--trainer.callbacks+=lightning_fer.transfer.FreezeEarlyStages"]) == 0
    last = torch.load(run / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)["state_dict"]
    # stem frozen during epoch 0: still exactly the RGB-summed torchvision conv1; stage 4 trained away from it
    torch.testing.assert_close(last["model.stem.0.weight"], source["conv1.weight"].sum(1, keepdim=True), rtol=0, atol=0)
    assert not torch.equal(last["model.stages.3.0.conv1.weight"], source["layer4.0.conv1.weight"])
    splits = FERDataModule(data_dir=str(small_prepared)).prepare_splits()
    expected = class_weights(class_frames(splits["train"], 6))
    assert "class-weighted loss: angry " + f"{expected[0]:.3f}, disgust {expected[1]:.3f}" in capsys.readouterr().out

    assert main(["test", *common]) == 0
    metrics = json.loads((run / "reports" / "test_metrics.json").read_text())
    evaluation = metrics["evaluation"]
    test = splits["test"]
    assert evaluation["frames"] == metrics["frames"] == sum(r.frames for r in test)
    assert evaluation["clips"] == len({r.clip for r in test})
    assert set(evaluation["per_subject"]) == {r.subject for r in test}
    assert sum(v["frames"] for v in evaluation["per_subject"].values()) == evaluation["frames"]
    assert evaluation["metrics"]["frame_accuracy"]["value"] == pytest.approx(metrics["accuracy"])
    assert evaluation["bootstrap"]["unit"] == "clip"  # one test child: intervals resample its clips
    assert sum(map(sum, evaluation["clip_confusion_matrix"])) == evaluation["clips"]
    table = (run / "reports" / "test_table3.md").read_text()
    assert "| Average |" in table  # Table 3 kept
    assert "Clip-level confusion" in table and "Per-subject accuracy" in table and "resample 6 clips" in table
