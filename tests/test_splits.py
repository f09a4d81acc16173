"""Split protocols on a manifest: no leakage for subject/video, full coverage for frame, k-fold rotation."""

from __future__ import annotations

from collections import Counter

import pandas as pd
import pytest

from lightning_fer.classes import CLASSES
from lightning_fer.data.splits import STAGES, SplitConfig, make_splits
from lightning_fer.errors import UserError

SUBJECTS, VIDEOS = 6, 2


@pytest.fixture(scope="module")
def manifest() -> pd.DataFrame:
    """6 children x 6 classes x 2 videos, 17-40 frames each (uneven, so segments end short)."""
    rows = []
    for child in range(1, SUBJECTS + 1):
        for label_index, label in enumerate(CLASSES):
            for n in range(1, VIDEOS + 1):
                video = f"S{child}_{label}_{n}"
                rows.append({"clip": f"clips/{video}.mp4", "label": label, "label_index": label_index,
                             "subject": f"S{child}", "video_id": video,
                             "frames": 17 + (7 * child + 3 * label_index + n) % 24})
    return pd.DataFrame(rows)


def _owners(splits, key: str) -> dict[str, set[str]]:
    owners: dict[str, set[str]] = {}
    for stage in STAGES:
        for item in splits[stage]:
            owners.setdefault(getattr(item, key), set()).add(stage)
    return owners


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_subject_protocol_keeps_each_child_in_one_split(manifest, seed):
    splits = make_splits(manifest, SplitConfig("subject", 0.2, 0.2, seed=seed))
    owners = _owners(splits, "subject")
    assert len(owners) == SUBJECTS and all(len(stages) == 1 for stages in owners.values())
    assert all(splits[stage] for stage in STAGES)
    assert sorted(i.video_id for s in STAGES for i in splits[s]) == sorted(manifest["video_id"])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_video_protocol_keeps_each_video_in_one_split(manifest, seed):
    splits = make_splits(manifest, SplitConfig("video", 0.2, 0.2, seed=seed))
    owners = _owners(splits, "video_id")
    assert len(owners) == len(manifest) and all(len(stages) == 1 for stages in owners.values())
    assert all(i.start == 0 and i.frames == manifest.set_index("video_id").frames[i.video_id]
               for s in STAGES for i in splits[s])  # whole videos
    assert any(len(stages) > 1 for stages in _owners(splits, "subject").values())  # children do leak


def test_frame_protocol_spreads_videos_and_covers_every_frame_once(manifest):
    splits = make_splits(manifest, SplitConfig("frame", 0.15, 0.15, seed=0, segment_frames=5))
    owners = _owners(splits, "video_id")
    assert sum(len(stages) > 1 for stages in owners.values()) > len(manifest) // 2
    frames = Counter((i.video_id, f) for s in STAGES for i in splits[s] for f in range(i.start, i.end))
    expected = {(r.video_id, f) for r in manifest.itertuples() for f in range(r.frames)}
    assert set(frames) == expected and set(frames.values()) == {1}
    assert all(1 <= i.frames <= 5 for s in STAGES for i in splits[s])
    share = sum(i.frames for i in splits["test"]) / len(expected)
    assert 0.10 < share < 0.20


@pytest.mark.parametrize(("protocol", "key", "folds"), [("subject", "subject", SUBJECTS), ("subject", "subject", 3),
                                                         ("video", "video_id", 5)])
def test_k_fold_makes_every_group_the_test_group_exactly_once(manifest, protocol, key, folds):
    tested: Counter[str] = Counter()
    for fold in range(folds):
        splits = make_splits(manifest, SplitConfig(protocol, 0.2, 0.0, seed=3, num_folds=folds, fold=fold))
        owners = _owners(splits, key)
        assert all(len(stages) == 1 for stages in owners.values())
        assert splits["train"] and splits["val"] and splits["test"]
        tested.update({getattr(i, key) for i in splits["test"]})
    groups = set(manifest["subject" if key == "subject" else "video_id"])
    assert set(tested) == groups and set(tested.values()) == {1}


@pytest.mark.parametrize("protocol", ["frame", "video", "subject"])
def test_splits_are_deterministic_by_seed(manifest, protocol):
    def split(seed: int):
        return make_splits(manifest, SplitConfig(protocol, 0.2, 0.2, seed=seed))

    assert split(5) == split(5)
    assert split(5) != split(6)
    shuffled = manifest.sample(frac=1.0, random_state=1)
    assert make_splits(shuffled, SplitConfig(protocol, 0.2, 0.2, seed=5)) == split(5)  # row order is irrelevant


def test_more_folds_than_groups_is_a_user_error(manifest):
    with pytest.raises(UserError, match="7 folds but only 6 subject groups"):
        make_splits(manifest, SplitConfig("subject", num_folds=7, fold=0))
