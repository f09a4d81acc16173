"""Clip geometry: `fer prepare` writes 128 x 128 clips whose centre 112 is the face as 112 clips framed it, the
pipeline crops the model's window (centre, or a random whole-pixel window per sequence), older 112 folders still
train, and wrong sizes get one line naming the clip or the setting."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from dali_media import PREPARED_CLIP_SIZE, collect

from dali_pipelines.loader import DaliFrameLoader
from dali_pipelines.reference import center_crop, preprocess
from dali_pipelines.spec import Augmentation, FrameSampling, PipelineSpec
from lightning_fer.data.datamodule import FERDataModule
from lightning_fer.errors import UserError
from lightning_fer.prepare import PrepareParams, read_manifest, run_prepare
from lightning_fer.prepare.crop import square_box
from lightning_fer.prepare.manifest import clip_geometry, read_prepare_info
from lightning_fer.video_io import read_frames, video_info, write_video


def _linked_copy(prepared: Path, out: Path) -> Path:
    """A prepared folder of hard links (clips) and copies (manifest, prepare.json) that a test may alter."""
    (out / "clips").mkdir(parents=True)
    for clip in (prepared / "clips").iterdir():
        os.link(clip, out / "clips" / clip.name)
    for name in ("manifest.csv", "prepare.json"):
        shutil.copy(prepared / name, out / name)
    return out


def test_prepare_records_geometry_and_widens_the_face_square(small_prepared):
    info = read_prepare_info(small_prepared)
    assert (info["clip_size"], info["input_size"]) == (128, 112) == clip_geometry(info)
    clip = small_prepared / read_manifest(small_prepared)["clip"][0]
    assert (video_info(clip).width, video_info(clip).height) == (128, 128)
    x0, y0, side = square_box((40, 50, 100, 80), margin=0.2)
    wx0, wy0, wide = square_box((40, 50, 100, 80), margin=0.2, context=128 / 112)
    assert (side, wide) == (140, 160) and (wx0 + wide / 2, wy0 + wide / 2) == (x0 + side / 2, y0 + side / 2)


def test_legacy_records_mean_112_clips():
    assert clip_geometry({"params": {"size": 112, "margin": 0.2}}) == (112, 112)
    assert clip_geometry(None) == (112, 112)
    legacy = PrepareParams.from_dict({"size": 112, "margin": 0.3, "unknown_key": 1})
    assert (legacy.clip_size, legacy.input_size, legacy.margin) == (112, 112, 0.3)


@pytest.mark.parametrize("size", [100, 129, 111])
def test_clip_size_below_the_input_or_odd_is_refused(size):
    with pytest.raises(ValueError, match="clip_size must be even and >= input_size"):
        PrepareParams(clip_size=size)


def _spec(clip: Path, frames: int, tmp: Path, **kwargs) -> PipelineSpec:
    return PipelineSpec(entries=[(str(clip), 0, 0, frames)], file_list=str(tmp / f"{len(kwargs)}.txt"),
                        clip_size=PREPARED_CLIP_SIZE, **kwargs)


def test_random_crop_takes_whole_pixel_windows_at_varied_positions(small_prepared, tmp_path):
    """Each training sequence equals the reference of one of the 17 x 17 windows of its frames (one draw for
    all frames of the run), and the draws differ between sequences."""
    clip = small_prepared / read_manifest(small_prepared)["clip"][0]
    decoded = read_frames(clip)
    spec = _spec(clip, len(decoded), tmp_path, batch_size=4, sampling=FrameSampling(2, 1, 2), shuffle=True,
                 augmentation=Augmentation(random_crop=True))
    frames, _ = collect(DaliFrameLoader(spec, train=True))
    runs = frames[:, 0].reshape(-1, 2, 112, 112)
    windows = {(t, left): preprocess(center_crop(decoded, 112, (t, left)))[:, 0]
               for t in range(17) for left in range(17)}
    found = set()
    for run in runs[:6]:
        errors = {(key, start): np.abs(ref[start:start + 2] - run).mean()
                  for key, ref in windows.items() for start in range(0, len(decoded) - 1, 2)}
        best = min(errors, key=errors.get)
        assert errors[best] < 0.01, f"no window matches this run (best mean |diff| {errors[best]:.3f})"
        found.add(best[0])
    assert len(found) >= 3, f"random crop positions barely vary: {found}"


def test_centre_crop_without_augmentation(small_prepared, tmp_path):
    clip = small_prepared / read_manifest(small_prepared)["clip"][1]
    decoded = read_frames(clip)
    frames, _ = collect(DaliFrameLoader(_spec(clip, len(decoded), tmp_path, batch_size=8), train=False))
    diff = np.abs(np.rint(frames[:, 0] * 255) - np.rint(preprocess(center_crop(decoded, 112))[:, 0] * 255))
    assert frames.shape == (len(decoded), 1, 112, 112) and diff.mean() <= 0.5


def test_a_clip_of_another_size_is_named(small_prepared, tmp_path):
    folder = _linked_copy(small_prepared, tmp_path / "mixed")
    module = FERDataModule(data_dir=str(folder), protocol="video", batch_size=8)
    victim = Path(module.prepare_splits()["train"][2].clip)
    victim.unlink()
    write_video(victim, np.full((30, 112, 112, 3), 128, np.uint8), fps=25)
    with pytest.raises(UserError, match=rf"clip .*{victim.name} is 112x112, but .*prepare.json says the clips are "
                                        r"128x128"):
        module.setup("fit")


def test_legacy_112_folder_still_trains(small_prepared, tmp_path):
    """A folder prepared before 128-pixel clips (prepare.json says params.size 112) loads 112 frames uncropped."""
    legacy = tmp_path / "legacy"
    summary = run_prepare(small_prepared.parent / "raw" / "videos", legacy, PrepareParams(clip_size=112), workers=1,
                          progress=False)
    assert summary.produced > 0
    info = json.loads((legacy / "prepare.json").read_text())
    info.pop("clip_size"), info.pop("input_size")
    info["params"]["size"] = info["params"].pop("clip_size")
    info["params"].pop("input_size")
    (legacy / "prepare.json").write_text(json.dumps(info))
    module = FERDataModule(data_dir=str(legacy), protocol="video", batch_size=8)
    assert module.clip_geometry() == (112, 112)
    module.setup("validate")
    frames = next(iter(module.val_dataloader()))[0]
    assert tuple(frames.shape[1:]) == (1, 112, 112)


@pytest.mark.parametrize("size", ["110", "113"])
def test_prepare_command_refuses_a_bad_clip_size_in_one_line(tmp_path, capsys, size):
    from lightning_fer.cli import main

    assert main(["prepare", str(tmp_path), str(tmp_path / "out"), "--clip-size", size, "--no-progress"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "clip_size must be even and >= input_size (112)" in err[0]
    assert not (tmp_path / "out").exists()
