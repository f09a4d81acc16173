"""Clip names: sources with spaces, odd characters and colliding names become safe, unique clips that the
shards, the resume path and the DALI training loader all accept."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import torch

from lightning_fer.data.datamodule import FERDataModule
from lightning_fer.prepare import PrepareParams, merge_parts, read_manifest, run_prepare
from lightning_fer.prepare.layout import discover
from lightning_fer.prepare.names import clip_names

SAFE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]*$")
# source name in the copied dataset -> the synthetic video it copies (small_prepared's raw videos)
RENAMED = {"S1_happy_1 copy.mp4": "S1_happy_1.mp4", "S1_happy_1_copy.mp4": "S1_happy_1.mp4",
           "S2_sad_1 (ça va?).mp4": "S2_sad_1.mp4", "S3_fear_1 'x'.mp4": "S3_fear_1.mp4"}


def test_safe_names_stay_and_unsafe_ones_get_a_hash_tag():
    names = clip_names(["S1_happy_1", "S1_happy_1 copy", "S1_happy_1_copy", "Happy/a b", "été/S2 x", ".-hid"])
    assert names["S1_happy_1"] == "S1_happy_1" and names["S1_happy_1_copy"] == "S1_happy_1_copy"
    assert re.fullmatch(r"S1_happy_1_copy-[0-9a-f]{8}", names["S1_happy_1 copy"])
    assert re.fullmatch(r"Happy__a_b-[0-9a-f]{8}", names["Happy/a b"])
    assert re.fullmatch(r"ete__S2_x-[0-9a-f]{8}", names["été/S2 x"])
    assert re.fullmatch(r"hid-[0-9a-f]{8}", names[".-hid"])
    assert len(set(names.values())) == len(names) and all(SAFE.match(n) for n in names.values())


def test_names_are_deterministic_and_case_insensitively_unique():
    relatives = ["b c", "A", "a", "x" * 300, "x" * 301, "ok"]
    names = clip_names(relatives)
    assert clip_names(reversed(relatives)) == names  # order does not matter
    assert clip_names(["b c"])["b c"] == names["b c"]  # nor the other sources, for a changed name
    assert names["ok"] == "ok"
    assert names["A"] != names["a"] and names["A"].casefold() != names["a"].casefold()
    assert names["x" * 300] != names["x" * 301] and max(len(n) for n in names.values()) <= 109


def test_discover_names_items_by_safe_clip_names_and_keeps_the_source(tmp_path):
    for name in ("S4_happy_1 copy.mp4", "S4_happy_1_copy.mp4", "S4_happy_1.mp4"):
        (tmp_path / name).write_bytes(b"x")
    items, problems = discover(tmp_path)
    assert not problems
    by_source = {i.source.name: i.video_id for i in items}
    assert by_source["S4_happy_1.mp4"] == "S4_happy_1" and by_source["S4_happy_1_copy.mp4"] == "S4_happy_1_copy"
    assert by_source["S4_happy_1 copy.mp4"].startswith("S4_happy_1_copy-")
    assert [i.video_id for i in items] == sorted(by_source.values())
    assert {i.label for i in items} == {"happy"} and {i.subject for i in items} == {"S4"}


@pytest.fixture(scope="module")
def odd_root(small_prepared, tmp_path_factory) -> Path:
    """small_prepared's 18 source videos plus copies under names with spaces, quotes, accents and a collision."""
    raw = small_prepared.parent / "raw" / "videos"
    root = tmp_path_factory.mktemp("odd-names")
    for video in raw.iterdir():
        shutil.copyfile(video, root / video.name)
    for name, original in RENAMED.items():
        shutil.copyfile(raw / original, root / name)
    return root


def test_sharded_prepare_resume_and_dali_training_on_odd_names(odd_root, tmp_path):
    out = tmp_path / "prepared"
    for shard in (0, 1):
        run_prepare(odd_root, out, PrepareParams(), workers=1, shard=shard, num_shards=2, progress=False)
    merged = merge_parts(out)
    assert merged.ok and merged.produced == 22 and not merged.failures
    manifest = read_manifest(out)
    assert len(manifest) == 22 and manifest["video_id"].is_unique
    assert {Path(s).name for s in manifest["source"]} == {p.name for p in odd_root.iterdir()}
    for row in manifest.itertuples():
        assert SAFE.match(row.video_id) and row.clip == f"clips/{row.video_id}.mp4" and (out / row.clip).is_file()
    odd = manifest[manifest["source"].map(lambda s: Path(s).name in RENAMED)]
    assert len(odd) == 4 and len(set(odd["clip"])) == 4

    again = run_prepare(odd_root, out, PrepareParams(), workers=1, progress=False)  # one run over the shards' clips
    assert again.resumed == 22 and again.produced == 22
    assert read_manifest(out).equals(manifest)

    data = FERDataModule(data_dir=str(out), protocol="video", val_fraction=0.2, test_fraction=0.2, batch_size=8,
                         device="cpu", num_threads=1)
    data.setup("fit")
    frames, labels = next(iter(data.train_dataloader()))
    assert frames.shape == (8, 1, 112, 112) and frames.dtype == torch.float32 and labels.shape == (8,)
    listed = "".join(Path(data._tmp.name, f"{split}-rank0.txt").read_text() for split in ("train", "val"))
    clips = {line.split()[0] for line in listed.splitlines()}
    fit_clips = {str((out / r.clip).resolve()) for split in ("train", "val") for r in data.splits[split]}
    assert clips == fit_clips and {Path(c).stem for c in clips} & set(odd["video_id"])
    val_frames = sum(len(batch[1]) for batch in data.val_dataloader())  # frames, labels, clip ids
    assert val_frames == sum(r.end - r.start for r in data.splits["val"])


def test_predict_names_folder_outputs_by_the_same_rule(tmp_path):
    """`fer predict --input FOLDER` names outputs as the crop pass names clips; same-stem files keep their suffix."""
    from lightning_fer.predict import resolve_sources

    for relative in ("a/x.mp4", "b/x.mp4", "a/x.jpg", "kid one/smile é.mp4", "c/y.mp4"):
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / relative).write_bytes(b"")
    names = {s.path.relative_to(tmp_path).as_posix(): s.name for s in resolve_sources(str(tmp_path))}
    assert names["a/x.mp4"] == "a__x.mp4" and names["a/x.jpg"] == "a__x.jpg" and names["b/x.mp4"] == "b__x"
    assert names["c/y.mp4"] == "c__y"
    odd = names["kid one/smile é.mp4"]
    assert odd == clip_names(["kid one/smile é"])["kid one/smile é"] and odd.startswith("kid_one__smile_e-")
    assert len(set(names.values())) == len(names)
