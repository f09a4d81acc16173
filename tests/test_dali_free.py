"""Machines without DALI: the settings, the baseline loader (through the data module) and `fer predict`
import and work when ``nvidia.dali`` cannot be imported at all (a subprocess with it blocked)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

SCRIPT = textwrap.dedent("""
    import json, sys
    sys.modules["nvidia.dali"] = None  # any `import nvidia.dali...` now raises ImportError
    data, ckpt, video, out = sys.argv[1:5]

    from dali_pipelines.spec import Augmentation, FrameSampling
    from lightning_fer.data.datamodule import FERDataModule

    aug = Augmentation(flip=True, rotate_degrees=10, scale=0.1, brightness=0.2, contrast=0.2)
    dm = FERDataModule(data_dir=data, loader="baseline", num_workers=0, batch_size=8, eval_batch_size=16,
                       train_sampling=FrameSampling(2, 1, 2), augmentation=aug)
    dm.setup("fit")
    frames, labels = next(iter(dm.train_dataloader()))
    val_frames = next(iter(dm.val_dataloader()))[0]  # evaluation batches: frames, labels, clip ids

    from lightning_fer.cli import main
    code = main(["predict", "--ckpt", ckpt, "--input", video, "--out", out, "--no-progress", "--max-frames", "6"])
    dali = sorted(k for k, v in sys.modules.items() if k.startswith("nvidia.dali") and v is not None)
    print(json.dumps({"train": list(frames.shape), "labels": list(labels.shape), "val": list(val_frames.shape),
                      "predict": code, "dali_modules": dali}))
""")


def test_baseline_loader_and_predict_work_without_dali(small_prepared: Path, tiny_checkpoint: Path, tmp_path: Path):
    video = sorted((small_prepared.parent / "raw" / "videos").glob("*.*"))[0]
    out = tmp_path / "predictions"
    result = subprocess.run([sys.executable, "-c", SCRIPT, str(small_prepared), str(tiny_checkpoint), str(video),
                             str(out)], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    info = json.loads(result.stdout.strip().splitlines()[-1])
    assert info["train"] == [8, 1, 112, 112] and info["labels"] == [8]  # 4 runs of 2 frames, augmented
    assert info["val"] == [16, 1, 112, 112]
    assert info["predict"] == 0 and info["dali_modules"] == []
    rows = (out / f"{video.stem}.csv").read_text().strip().splitlines()
    assert len(rows) == 1 + 6  # header + one row per frame
