"""Finding items, labels and subjects in the three dataset layouts; unmapped names are reported."""

from __future__ import annotations

from pathlib import Path

import pytest

from lightning_fer.errors import UserError
from lightning_fer.prepare.layout import detect_layout, discover


def _touch(root: Path, *names: str) -> None:
    for name in names:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x")


def test_liris_flat_layout_with_tolerant_spellings(tmp_path):
    _touch(tmp_path, "S1_happy_1.mp4", "S1_Happiness_2.avi", "S12_anger_3.MOV", "S3_Surprised_1.webm",
           "S4_disgust_1.mkv", "S5_fear_2.jpg", "S6_sadness_1.png", "S7_bored_1.mp4", "clip_happy_1.mp4",
           "notes.txt", ".DS_Store")
    assert detect_layout(tmp_path) == "liris"
    items, problems = discover(tmp_path)
    got = {i.video_id: (i.label, i.subject) for i in items}
    assert got == {
        "S1_happy_1": ("happy", "S1"), "S1_Happiness_2": ("happy", "S1"), "S12_anger_3": ("angry", "S12"),
        "S3_Surprised_1": ("surprise", "S3"), "S4_disgust_1": ("disgust", "S4"), "S5_fear_2": ("fear", "S5"),
        "S6_sadness_1": ("sad", "S6"),
    }
    assert [i.video_id for i in items] == sorted(got)
    reported = {p.source.name: p.reason for p in problems}
    assert reported == {"S7_bored_1.mp4": "unmapped class", "clip_happy_1.mp4": "unmapped class",
                        "notes.txt": "not video or image"}  # hidden files are not items and not problems
    assert all(i.source.is_absolute() for i in items)


def test_class_layout(tmp_path):
    _touch(tmp_path, "Happy/a.mp4", "Happy/S2_x.mp4", "ANGER/b.avi", "surprised/c.jpg", "neutral/d.mp4",
           "neutral/e.mp4", "stray.mp4")
    items, problems = discover(tmp_path, layout="auto")
    assert {i.video_id: (i.label, i.subject) for i in items} == {
        "Happy__a": ("happy", "unknown"), "Happy__S2_x": ("happy", "S2"), "ANGER__b": ("angry", "unknown"),
        "surprised__c": ("surprise", "unknown")}
    reasons = {p.source.name: (p.reason, p.detail) for p in problems}
    assert reasons["neutral"][0] == "unmapped class" and "2 files" in reasons["neutral"][1]
    assert reasons["stray.mp4"][0] == "unexpected file"


def test_subject_layout(tmp_path):
    _touch(tmp_path, "child01/happy/1.mp4", "child01/Sad/2.mp4", "child02/fearful/1.mp4", "child02/other/3.mp4")
    assert detect_layout(tmp_path) == "subject"
    items, problems = discover(tmp_path)
    assert {(i.video_id, i.label, i.subject) for i in items} == {
        ("child01__happy__1", "happy", "child01"), ("child01__Sad__2", "sad", "child01"),
        ("child02__fearful__1", "fear", "child02")}
    assert [(p.source.name, p.reason) for p in problems] == [("other", "unmapped class")]


def test_duplicate_video_id_and_output_inside_root(tmp_path):
    _touch(tmp_path, "S1_happy_1.mp4", "S1_happy_1.avi", "out/clips/S1_happy_1.mp4")
    items, problems = discover(tmp_path, skip=tmp_path / "out")
    assert [i.source.name for i in items] == ["S1_happy_1.avi"]
    assert [(p.source.name, p.reason) for p in problems] == [("S1_happy_1.mp4", "duplicate video_id")]


def test_unknown_layout_and_missing_root_are_user_errors(tmp_path):
    _touch(tmp_path, "a/b/c.mp4")
    with pytest.raises(UserError, match="cannot tell the dataset layout"):
        discover(tmp_path)
    with pytest.raises(UserError, match="not a folder"):
        discover(tmp_path / "missing")
    with pytest.raises(UserError, match="layout 'flat'"):
        discover(tmp_path, layout="flat")
