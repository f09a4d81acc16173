"""Train-time augmentation in both loaders: the DALI pipeline (``dali_pipelines.pipelines.augment``) and its
NumPy/OpenCV twin (``dali_pipelines.reference.augment``) draw the same operations from the same ranges.

Checked on both: identity settings change nothing; each operation changes frames; rotation and zoom keep the
frame's centre in place (non-square frames, so a fixed centre would show); every frame of a run gets the same
draw; brightness and contrast factors stay within and spread over their ranges with the same contrast centre.
"""

from __future__ import annotations

import numpy as np
import pytest

from dali_pipelines.reference import augment as reference_augment
from dali_pipelines.spec import Augmentation

H, W = 64, 96  # non-square: the centre is (47.5, 31.5) in pixel indices
SAMPLES = 24


def _disk() -> np.ndarray:
    """A bright disk centred on the frame (symmetric about the centre), as a 2-frame RGB run."""
    rows, cols = np.mgrid[0:H, 0:W]
    disk = ((rows - (H - 1) / 2) ** 2 + (cols - (W - 1) / 2) ** 2 < 15**2).astype(np.uint8) * 200
    return np.repeat(np.stack([disk, disk])[..., None], 3, axis=-1)


def _pattern() -> np.ndarray:
    """An asymmetric run (gradient + off-centre bar): any flip, rotation or zoom changes it."""
    rows, cols = np.mgrid[0:H, 0:W]
    frame = (cols * 2 + rows).astype(np.uint8)
    frame[10:20, 60:90] = 255
    return np.repeat(np.stack([frame, frame])[..., None], 3, axis=-1)


def _flat(level: int = 100) -> np.ndarray:
    return np.full((2, H, W, 3), level, np.uint8)


def _reference(run: np.ndarray, aug: Augmentation, samples: int = SAMPLES) -> list[np.ndarray]:
    return [reference_augment(run, aug, np.random.default_rng(i)) for i in range(samples)]


def _dali(run: np.ndarray, aug: Augmentation, samples: int = SAMPLES) -> list[np.ndarray]:
    pytest.importorskip("nvidia.dali")
    from nvidia.dali import fn, pipeline_def, types

    from dali_pipelines.pipelines import augment

    @pipeline_def(batch_size=samples, num_threads=1, device_id=None, seed=7, exec_dynamic=True)
    def pipe():
        frames = fn.external_source(name="rgb", layout="FHWC", dtype=types.UINT8)
        return augment(frames, aug) if aug.enabled else frames

    p = pipe()
    p.build()
    p.feed_input("rgb", [run] * samples)
    (out,) = p.run()
    return [np.array(out[i]) for i in range(samples)]


AUGMENT = {"reference": _reference, "dali": _dali}


def _centroid(frame: np.ndarray) -> tuple[float, float]:
    weights = frame[..., 0].astype(np.float64)
    rows, cols = np.mgrid[0 : frame.shape[0], 0 : frame.shape[1]]
    return float((rows * weights).sum() / weights.sum()), float((cols * weights).sum() / weights.sum())


@pytest.mark.parametrize("impl", AUGMENT)
def test_identity_settings_change_nothing(impl):
    run = _pattern()
    for out in AUGMENT[impl](run, Augmentation(flip=False, rotate_degrees=0, scale=0, brightness=0, contrast=0), 4):
        np.testing.assert_array_equal(out, run)


@pytest.mark.parametrize("impl", AUGMENT)
def test_flip_is_a_coin_flip_of_the_whole_run(impl):
    run = _pattern()
    outs = AUGMENT[impl](run, Augmentation(flip=True))
    flipped = [np.array_equal(o, run[:, :, ::-1]) for o in outs]
    kept = [np.array_equal(o, run) for o in outs]
    assert all(f or k for f, k in zip(flipped, kept, strict=True))  # nothing but a flip, of both frames
    assert 3 <= sum(flipped) <= SAMPLES - 3  # p = 0.5: both outcomes occur


@pytest.mark.parametrize("impl", AUGMENT)
@pytest.mark.parametrize("aug", [Augmentation(rotate_degrees=40), Augmentation(scale=0.3)], ids=["rotate", "scale"])
def test_rotation_and_zoom_change_frames_about_the_frame_centre(impl, aug):
    pattern = AUGMENT[impl](_pattern(), aug)
    assert sum(not np.array_equal(o, _pattern()) for o in pattern) >= SAMPLES - 2
    assert all(np.array_equal(o[0], o[1]) for o in pattern)  # one draw per run
    centre = ((H - 1) / 2, (W - 1) / 2)
    areas = []
    for out in AUGMENT[impl](_disk(), aug):
        row, col = _centroid(out[0])
        assert abs(row - centre[0]) < 0.75 and abs(col - centre[1]) < 0.75, (row, col)
        areas.append((out[0, ..., 0] > 100).sum() / (_disk()[0, ..., 0] > 100).sum())
    if aug.scale:  # zoom 1 +- 0.3 scales the disk's area by 0.49 ... 1.69, and draws spread over the range
        assert 0.45 < min(areas) < 0.85 and 1.2 < max(areas) < 1.75, (min(areas), max(areas))


@pytest.mark.parametrize("impl", AUGMENT)
def test_brightness_and_contrast_draw_factors_from_their_ranges(impl):
    # flat 100: brightness b gives b * 100; contrast c around mid-gray 128 gives 128 + c * (100 - 128)
    bright = np.array([o.mean() for o in AUGMENT[impl](_flat(100), Augmentation(brightness=0.3))])
    assert bright.min() >= 69.5 and bright.max() <= 130.5 and np.ptp(bright) > 25, bright
    contrast = np.array([o.mean() for o in AUGMENT[impl](_flat(100), Augmentation(contrast=0.3))])
    assert contrast.min() >= 91 and contrast.max() <= 109 and np.ptp(contrast) > 7, contrast
    assert all(np.ptp(o) == 0 for o in AUGMENT[impl](_flat(100), Augmentation(brightness=0.3)))  # one draw per run


def test_augmentation_rejects_negative_ranges():
    with pytest.raises(ValueError, match=">= 0"):
        Augmentation(rotate_degrees=-5)
    with pytest.raises(ValueError, match="scale must be < 1"):
        Augmentation(scale=1.0)
