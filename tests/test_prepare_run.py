"""`fer prepare` end to end on a small real dataset: clips, manifest, stats, bad inputs, resume."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import numpy as np
import pytest
from media import corrupt_copy, face_video, large_image, mjpeg_avi, noise_video, place

from dali_pipelines.reference import equalize, to_gray
from lightning_fer.classes import CLASSES
from lightning_fer.cli import main
from lightning_fer.errors import UserError
from lightning_fer.prepare import COLUMNS, PrepareParams, read_manifest, run_prepare
from lightning_fer.video_io import read_frames

GOOD = {"S1_happy_1": ("happy", 20), "S2_surprise_1": ("surprise", 12), "S2_fear_1": ("fear", 8),
        "S3_angry_1": ("angry", 1), "S3_happy_2": ("happy", 1), "S4_disgust_1": ("disgust", 1)}
BAD = {"S5_happy_1.mp4": "empty file", "S5_happy_2.mp4": "cannot decode", "S5_happy_3.mp4": "cannot decode",
       "S5_happy_4.mp4": "cannot decode", "S5_sad_1.mp4": "no face", "S5_bored_1.mp4": "unmapped class",
       "S5_sad_2.mp4": "no face"}


@pytest.fixture(scope="module")
def prepared(test_media, tmp_path_factory):
    root = tmp_path_factory.mktemp("liris")
    face_video(test_media, root / "S1_happy_1.mp4", 20)
    face_video(test_media, root / "S2_surprise_1.webm", 12, codec="libvpx-vp9")
    mjpeg_avi(test_media, root / "S2_fear_1.avi", 8)
    face_video(test_media, root / "S3_angry_1.mp4", 1)  # one-frame video
    place(test_media / "multi_face.jpg", root / "S3_happy_2.jpg")
    large_image(test_media, root / "S4_disgust_1.jpg")  # 4000 x 4000
    (root / "S5_happy_1.mp4").write_bytes(b"")
    corrupt_copy(test_media / "single_face.mp4", root / "S5_happy_2.mp4", truncate=True)
    corrupt_copy(test_media / "single_face.mp4", root / "S5_happy_3.mp4", truncate=False)
    (root / "S5_happy_4.mp4").write_text("this is not a video\n")
    place(test_media / "no_face.mp4", root / "S5_sad_1.mp4")
    noise_video(root / "S5_sad_2.mp4")
    (root / "S5_bored_1.mp4").write_bytes(b"x")
    out = tmp_path_factory.mktemp("faces")
    summary = run_prepare(root, out, PrepareParams(), workers=2, progress=False)
    return root, out, summary


def test_manifest_follows_the_contract(prepared):
    root, out, summary = prepared
    with open(out / "manifest.csv") as handle:
        assert tuple(next(csv.reader(handle))) == COLUMNS
    manifest = read_manifest(out)
    assert list(manifest["video_id"]) == sorted(GOOD)
    for row in manifest.itertuples():
        label, frames = GOOD[row.video_id]
        assert (row.label, row.label_index, row.frames) == (label, CLASSES.index(label), frames)
        assert row.subject == row.video_id.split("_")[0] and row.clip == f"clips/{row.video_id}.mp4"
        assert Path(row.source).is_absolute() and Path(row.source).parent == root
        assert row.params_id == PrepareParams().params_id and 0 < row.detection_rate <= 1
        assert row.box_size_mean > 40
    assert manifest.set_index("video_id").loc["S1_happy_1", "fps"] == pytest.approx(30)
    assert manifest.set_index("video_id").loc["S4_disgust_1", "box_size_mean"] > 1000  # in 4000 px source pixels
    assert summary.produced == len(GOOD) and summary.frames_written == sum(f for _, f in GOOD.values())


def test_clips_decode_to_128_with_the_stated_frame_count(prepared):
    _, out, _ = prepared
    for row in read_manifest(out).itertuples():
        frames = read_frames(out / row.clip)
        assert frames.shape == (row.frames, 128, 128, 3), row.video_id
    assert not list((out / "clips").glob(".*")), "no temporary files left"


def test_bad_inputs_are_reported_and_the_pass_continues(prepared):
    _, out, summary = prepared
    reported = {Path(f.source).name: f.reason for f in summary.failures}
    assert reported == BAD
    with open(out / "failures.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert {Path(r["source"]).name: r["reason"] for r in rows} == BAD
    assert all(r["detail"] for r in rows)
    report = summary.report()
    assert all(name in report for name in BAD) and "failures by reason" in report


def test_prepare_json_has_params_and_pixel_stats(prepared):
    _, out, summary = prepared
    info = json.loads((out / "prepare.json").read_text())
    assert info["params"] == PrepareParams().to_dict() and info["params_id"] == PrepareParams().params_id
    assert info["summary"]["produced"] == len(GOOD)
    values = np.concatenate([(equalize(to_gray(read_frames(out / r.clip))) / 255.0).ravel()
                             for r in read_manifest(out).itertuples()])
    assert info["stats"]["gray_mean"] == pytest.approx(values.mean(), abs=0.01)  # VP9 is lossy
    assert info["stats"]["gray_std"] == pytest.approx(values.std(), abs=0.01)


def test_rerun_skips_finished_clips_and_redoes_changed_sources(prepared):
    root, out, _ = prepared
    before = {p.name: p.stat().st_mtime_ns for p in (out / "clips").glob("*.mp4")}
    manifest_before = (out / "manifest.csv").read_text()
    source = root / "S1_happy_1.mp4"
    os.utime(source, ns=(source.stat().st_atime_ns, source.stat().st_mtime_ns + 10**9))
    summary = run_prepare(root, out, PrepareParams(), workers=1, progress=False)
    after = {p.name: p.stat().st_mtime_ns for p in (out / "clips").glob("*.mp4")}
    assert summary.resumed == len(GOOD) - 1
    assert {n for n in before if before[n] != after[n]} == {"S1_happy_1.mp4"}
    assert (out / "manifest.csv").read_text() == manifest_before


def test_dali_cpu_reader_decodes_a_clip(prepared):
    from nvidia.dali import fn, pipeline_def

    _, out, _ = prepared
    clip = out / "clips" / "S1_happy_1.mp4"

    @pipeline_def(batch_size=2, num_threads=2, device_id=None)
    def pipe():
        return fn.experimental.readers.video(filenames=[str(clip)], sequence_length=8, device="cpu", name="r")

    pipeline = pipe()
    pipeline.build()
    (batch,) = pipeline.run()
    sequences = np.asarray(batch.as_tensor())
    assert sequences.shape == (2, 8, 128, 128, 3)
    first = read_frames(clip)[:8]
    assert np.abs(sequences[0].astype(int) - first.astype(int)).mean() < 3


def test_cli_exit_codes(prepared, tmp_path, capsys):
    root, out, _ = prepared
    assert main(["prepare", str(root), str(out), "--no-progress"]) == 0
    assert main(["prepare", str(root), str(out), "--no-progress", "--strict"]) == 1
    only_bad = tmp_path / "bad"
    only_bad.mkdir()
    (only_bad / "S1_happy_1.mp4").write_bytes(b"")
    assert main(["prepare", str(only_bad), str(tmp_path / "o"), "--no-progress"]) == 1
    assert "no usable clip" in capsys.readouterr().err
    assert main(["prepare", str(tmp_path / "missing"), str(tmp_path / "o"), "--no-progress"]) == 2


def test_too_large_frames_are_reported(test_media, tmp_path):
    (tmp_path / "data").mkdir()
    large_image(test_media, tmp_path / "data" / "S1_happy_1.jpg")
    summary = run_prepare(tmp_path / "data", tmp_path / "out", PrepareParams(max_pixels=1_000_000), workers=1,
                          progress=False)
    assert [(f.reason, "4000x4000" in f.detail) for f in summary.failures] == [("frame too large", True)]


def test_unreadable_file_is_reported(test_media):
    """chmod 000 stops only non-root users: as root, run the CLI as `nobody` (setpriv), in one process."""
    import shutil
    import subprocess
    import sys
    import tempfile

    base = Path(tempfile.mkdtemp(prefix="fer-perm-"))
    try:
        os.chmod(base, 0o777)
        place(test_media / "single_face.jpg", base / "data" / "S1_happy_1.jpg")
        locked = place(test_media / "single_face.jpg", base / "data" / "S1_happy_2.jpg")
        os.chmod(base / "data", 0o777)
        os.chmod(locked, 0)
        command = [str(Path(sys.executable).parent / "fer"), "prepare", str(base / "data"), str(base / "out"),
                   "--workers", "1", "--no-progress"]
        if os.geteuid() == 0:
            if not shutil.which("setpriv"):
                pytest.skip("running as root without setpriv: cannot make a file unreadable")
            command = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", "--", *command]
        proc = subprocess.run(command, capture_output=True, text=True, timeout=120, cwd=base)
        if not (base / "out" / "manifest.csv").exists():
            pytest.skip(f"could not run fer as an unprivileged user here: {proc.stderr[-300:]}")
        assert proc.returncode == 0
        assert "S1_happy_2.jpg: permission denied" in proc.stderr
        assert "permission denied" in (base / "out" / "failures.csv").read_text()
    finally:
        shutil.rmtree(base, ignore_errors=True)


def test_read_manifest_names_the_bad_file(tmp_path):
    with pytest.raises(UserError, match="no manifest"):
        read_manifest(tmp_path)
    bad = tmp_path / "manifest.csv"
    bad.write_text("clip,label\nclips/a.mp4,happy\n")
    with pytest.raises(UserError, match=r"manifest\.csv: manifest lacks columns label_index"):
        read_manifest(bad)
