"""The synthetic demo dataset: layout, determinism, Haar detectability, class cues, bad files, CLI errors.

Real files throughout: a small dataset is generated once per module (3 children x 6 classes x 1 s).
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from lightning_fer.classes import CLASSES
from lightning_fer.cli import main
from lightning_fer.synth import detection_rate, generate_dataset, video_name
from lightning_fer.synth.clip import iter_clip
from lightning_fer.video_io import VideoReadError, read_frames, video_info

CHILDREN, SECONDS, FPS, WIDTH, HEIGHT = 3, 1.0, 25, 320, 240
TINY = dict(children=1, videos_per_class=1, seconds=0.4, fps=25, width=160, height=128, workers=1, progress=False)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory):
    out = tmp_path_factory.mktemp("synth")
    summary = generate_dataset(out, children=CHILDREN, videos_per_class=1, seconds=SECONDS, fps=FPS, width=WIDTH,
                               height=HEIGHT, seed=3, with_bad_files=True, workers=2, progress=False)
    return out, summary


def _good_videos(out: Path) -> list[Path]:
    return sorted(p for p in (out / "videos").glob("S*.mp4") if not p.name.startswith("S99_"))


def test_layout_names_counts_and_video_properties(dataset):
    out, summary = dataset
    expected = {video_name(child, label, 1) for child in range(1, CHILDREN + 1) for label in CLASSES}
    assert {p.name for p in _good_videos(out)} == expected
    for path in _good_videos(out):
        info = video_info(path)
        assert (info.fps, info.frames, info.width, info.height) == (FPS, SECONDS * FPS, WIDTH, HEIGHT), path
    assert summary.videos == len(expected) and summary.frames == len(expected) * SECONDS * FPS
    assert summary.per_class == dict.fromkeys(CLASSES, CHILDREN)
    assert summary.per_child == dict.fromkeys(range(1, CHILDREN + 1), len(CLASSES))
    saved = json.loads((out / "synth.json").read_text())
    assert saved["parameters"]["children"] == CHILDREN and saved["summary"]["videos"] == len(expected)
    assert all((out / name).exists() for name in summary.files)
    text = summary.format()
    assert "Haar face detection" in text and "S3" in text and "surprise" in text


def test_haar_finds_the_face_on_at_least_90_percent_of_frames(dataset):
    out, summary = dataset
    assert summary.detection_rate >= 0.90, summary.format()
    assert detection_rate(_good_videos(out), every=3) >= 0.90


def _mouth_crop(frame: np.ndarray) -> np.ndarray:
    """Lower-middle part of the Haar face box at 112x112, equalized as the training crops are."""
    gray = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
    cascade = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")
    faces = cascade.detectMultiScale(gray, 1.1, 5, minSize=(40, 40))
    assert len(faces), "no face found"
    x, y, w, h = max(faces, key=lambda f: f[2] * f[3])
    face = cv2.equalizeHist(cv2.resize(gray[y:y + h, x:x + w], (112, 112)))
    return face[72:104, 28:84].astype(np.float32)


def test_classes_differ_in_the_mouth_region_more_than_frames_of_one_clip(dataset):
    out, _ = dataset
    for child in range(1, CHILDREN + 1):
        happy = read_frames(out / "videos" / video_name(child, "happy", 1))
        surprise = read_frames(out / "videos" / video_name(child, "surprise", 1))
        between = np.abs(_mouth_crop(happy[-1]) - _mouth_crop(surprise[-1])).mean()
        within = np.abs(_mouth_crop(happy[-1]) - _mouth_crop(happy[-6])).mean()
        assert between > 25 and between > 2 * within, (child, between, within)


def test_same_seed_same_frames_other_seed_other_frames(tmp_path):
    # Rendering is bit-exact; x264 (PyAV's FFmpeg) is not bit-exact between encodes in one process
    # (decoded frames differ by ~0.02 gray levels on average), so decoded videos are compared with a tolerance.
    clip = dict(child=1, label="fear", index=1, n_frames=10, fps=25, width=160, height=128)
    assert np.array_equal(np.stack(list(iter_clip(5, **clip))), np.stack(list(iter_clip(5, **clip))))
    a = generate_dataset(tmp_path / "a", seed=5, **TINY)
    b = generate_dataset(tmp_path / "b", seed=5, **{**TINY, "workers": 2})
    c = generate_dataset(tmp_path / "c", seed=6, **TINY)
    name = video_name(1, "fear", 1)
    frames_a, frames_b, frames_c = (read_frames(s.out / "videos" / name).astype(np.int16) for s in (a, b, c))
    assert np.abs(frames_a - frames_b).mean() < 0.5
    assert np.abs(frames_a - frames_c).mean() > 5


def test_bad_files_have_their_stated_defects(dataset):
    out, _ = dataset
    listing = {Path(item["file"]).name: item["defect"] for item in json.loads((out / "bad_files.json").read_text())}
    assert listing == {"S99_happy_1.mp4": "zero_bytes", "S99_sad_2.mp4": "truncated",
                       "S99_fear_3.mp4": "not_a_video", "S99_angry_4.mp4": "no_face"}
    videos = out / "videos"
    assert (videos / "S99_happy_1.mp4").stat().st_size == 0
    source = (videos / video_name(1, "angry", 1)).stat().st_size
    assert (videos / "S99_sad_2.mp4").stat().st_size == int(source * 0.3)
    assert (videos / "S99_fear_3.mp4").read_bytes().startswith(b"This is not a video")
    for broken in ("S99_happy_1.mp4", "S99_sad_2.mp4", "S99_fear_3.mp4"):
        with pytest.raises(VideoReadError):
            read_frames(videos / broken)
    assert video_info(videos / "S99_angry_4.mp4").frames == SECONDS * FPS
    assert detection_rate([videos / "S99_angry_4.mp4"], every=1) == 0.0


def test_bad_files_only_with_the_flag(tmp_path):
    generate_dataset(tmp_path, with_bad_files=True, **TINY)
    assert len(list((tmp_path / "videos").glob("S99_*"))) == 4
    summary = generate_dataset(tmp_path, **TINY)  # a rerun without the flag removes them
    assert not list((tmp_path / "videos").glob("S99_*")) and not (tmp_path / "bad_files.json").exists()
    assert summary.bad_files == [] and len(list((tmp_path / "videos").iterdir())) == len(CLASSES)


def test_cli_prints_the_summary(tmp_path, capsys):
    out = tmp_path / "demo"
    rc = main(["synth", str(out), "--children", "1", "--videos-per-class", "1", "--seconds", "0.4",
               "--size", "160x128", "--workers", "1"])
    assert rc == 0
    printed = capsys.readouterr().out
    assert "6 videos, 60 frames" in printed and "Haar face detection" in printed
    assert (out / "synth.json").exists()


@pytest.mark.parametrize(("args", "message"), [
    (["--children", "0"], "--children"),
    (["--seconds", "0"], "--seconds"),
    (["--seconds", "-1"], "--seconds"),
    (["--size", "big"], "WIDTHxHEIGHT"),
    (["--size", "64x48"], "width"),
    (["--size", "320x241"], "height"),
    (["--videos-per-class", "0"], "--videos-per-class"),
    (["--workers", "0"], "--workers"),
])
def test_cli_rejects_bad_arguments_and_writes_nothing(tmp_path, capsys, args, message):
    out = tmp_path / "out"
    assert main(["synth", str(out), *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("fer synth: error:") and message in err and len(err.strip().splitlines()) == 1
    assert not out.exists()


def test_cli_rejects_an_output_that_cannot_be_created(tmp_path, capsys):
    blocker = tmp_path / "file.txt"
    blocker.write_text("x")
    for out in (blocker, blocker / "out"):
        assert main(["synth", str(out), "--children", "1"]) == 2
        assert "is not a directory" in capsys.readouterr().err
    assert blocker.read_text() == "x"
