"""Crash safety and SLURM-array sharding of `fer prepare`, with real subprocesses and SIGKILL."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from media import face_video

from lightning_fer.cli import main
from lightning_fer.errors import UserError
from lightning_fer.prepare import PrepareParams, merge_parts, read_manifest, run_prepare
from lightning_fer.video_io import read_frames

ITEMS = 8


@pytest.fixture(scope="module")
def dataset(test_media, tmp_path_factory):
    root = tmp_path_factory.mktemp("kill-data")
    first = face_video(test_media, root / "S1_happy_1.mp4", 60)
    labels = ["happy", "sad", "fear", "angry"]
    for index in range(1, ITEMS):
        shutil.copyfile(first, root / f"S{index % 3 + 1}_{labels[index % 4]}_{index + 1}.mp4")
    return root


def _check_complete(out: Path) -> None:
    manifest = read_manifest(out)
    assert len(manifest) == ITEMS and manifest["video_id"].is_unique
    for row in manifest.itertuples():
        assert read_frames(out / row.clip).shape == (row.frames, 128, 128, 3)
        assert row.frames == 60
    clips = sorted(p.name for p in (out / "clips").iterdir())
    assert clips == sorted([f"{v}.mp4" for v in manifest["video_id"]] + [f"{v}.json" for v in manifest["video_id"]])


def test_kill_9_mid_run_then_rerun_gives_complete_output(dataset, tmp_path):
    out = tmp_path / "out"
    command = [sys.executable, "-m", "lightning_fer.cli", "prepare", str(dataset), str(out), "--workers", "2",
               "--no-progress"]
    proc = subprocess.Popen(command, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(list(out.glob("clips/*.json"))) < 2 and proc.poll() is None:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)  # the command and its worker processes, mid-run
    proc.wait()
    finished = len(list(out.glob("clips/*.json")))
    assert 0 < finished < ITEMS, f"kill should land mid-run ({finished} of {ITEMS} done)"
    assert not (out / "manifest.csv").exists()
    summary = run_prepare(dataset, out, PrepareParams(), workers=2, progress=False)
    assert summary.resumed >= finished and summary.produced == ITEMS and not summary.failures
    _check_complete(out)


def test_shards_merge_into_the_same_manifest_as_one_run(dataset, tmp_path):
    params = ["--max-frames", "12", "--no-progress", "--workers", "1"]
    single, sharded = tmp_path / "single", tmp_path / "sharded"
    assert main(["prepare", str(dataset), str(single), *params]) == 0
    for shard in (0, 1, 2):
        assert main(["prepare", str(dataset), str(sharded), "--shard", str(shard), "--num-shards", "3", *params]) == 0
    assert sorted(p.name for p in (sharded / "manifests").glob("*.csv")) == [
        "part-0000-of-0003.csv", "part-0001-of-0003.csv", "part-0002-of-0003.csv"]
    assert not (sharded / "manifest.csv").exists()
    assert main(["prepare", "merge", str(sharded)]) == 0
    assert (sharded / "manifest.csv").read_text() == (single / "manifest.csv").read_text().replace(
        str(single), str(sharded))
    merged, one = (json.loads((d / "prepare.json").read_text()) for d in (sharded, single))
    assert merged["stats"] == pytest.approx(one["stats"], rel=1e-9)  # sums added in another order
    assert {k: v for k, v in merged.items() if k != "stats"} == {k: v for k, v in one.items() if k != "stats"}
    (sharded / "manifests" / "part-0001-of-0003.json").unlink()
    with pytest.raises(UserError, match="shards not finished: part-0001-of-0003"):
        merge_parts(sharded)


def test_changed_params_redo_clips(dataset, tmp_path):
    out = tmp_path / "out"
    first = run_prepare(dataset, out, PrepareParams(max_frames=6), workers=1, progress=False)
    again = run_prepare(dataset, out, PrepareParams(max_frames=4), workers=1, progress=False)
    assert first.resumed == 0 and again.resumed == 0
    assert set(read_manifest(out)["frames"]) == {4}
    assert set(read_manifest(out)["params_id"]) == {PrepareParams(max_frames=4).params_id}
