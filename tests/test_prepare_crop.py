"""The crop pass hands the decoder's cropped yuv420p planes straight to the VP9 encoder: its clips must show
what `fer predict` crops (RGB via crop_face) as closely as writing those RGB crops would."""

from __future__ import annotations

import itertools

import numpy as np

from dali_pipelines.reference import to_gray
from lightning_fer.prepare import PrepareParams, crop_face, track_boxes
from lightning_fer.prepare.crop import crop_face_planes
from lightning_fer.prepare.detect import detector_for
from lightning_fer.prepare.layout import Item
from lightning_fer.prepare.process import clip_path, process_item
from lightning_fer.video_io import DecodedFrame, iter_decoded, iter_frames, write_video

FRAMES = 40


def _gray_frames(path) -> np.ndarray:
    return np.stack([to_gray(frame) for frame in iter_frames(path)]).astype(np.int16)


def test_clip_from_planes_matches_predict_crops_as_well_as_rgb_encoding(test_media, tmp_path):
    video = test_media / "WolfgangLanger_Pexels.mp4"
    params = PrepareParams(max_frames=FRAMES)
    result = process_item(Item(video.resolve(), "wolf", "happy", "S0"), params, tmp_path)
    assert result.row is not None and result.row["frames"] == FRAMES
    track = track_boxes(itertools.islice(iter_decoded(video), FRAMES), detector_for(params), params)
    crops = [crop_face(frame, box, params.size, params.margin)
             for frame, box in zip(itertools.islice(iter_decoded(video), FRAMES), track.boxes, strict=True)]
    predicted = np.stack([to_gray(crop) for crop in crops]).astype(np.int16)
    write_video(tmp_path / "rgb.mp4", crops)  # the RGB route: crop_face, then the encoder converts to yuv420p

    planes_error = np.abs(_gray_frames(clip_path(tmp_path, "wolf")) - predicted)
    rgb_error = np.abs(_gray_frames(tmp_path / "rgb.mp4") - predicted)
    print(f"gray levels vs predict's crops: planes mean {planes_error.mean():.3f} p99 "
          f"{np.percentile(planes_error, 99):.0f}; rgb mean {rgb_error.mean():.3f}")
    assert planes_error.mean() < 2.5 and np.percentile(planes_error, 99) <= 10  # measured 1.72 and 7 (VP9 loss)
    assert planes_error.mean() <= rgb_error.mean() + 0.1


def test_planes_crop_has_yuv420_layout_and_falls_back_when_it_cannot(test_media):
    frame = next(iter_decoded(test_media / "WolfgangLanger_Pexels.mp4"))
    box = detector_for(PrepareParams()).detect_gray(frame.gray())
    planes = crop_face_planes(frame, box, size=112)
    assert planes.shape == (168, 112) and planes.dtype == np.uint8
    rgb_gray = to_gray(crop_face(frame, box, size=112)).astype(np.int16)
    luma_gray = DecodedFrame(planes=planes, size=(112, 112)).gray().astype(np.int16)  # the crop pass's statistics
    assert np.abs(luma_gray - rgb_gray).max() <= 2
    assert crop_face_planes(frame, box, size=114) is None  # chroma rows of 57 x 57 do not tile 114-wide rows
