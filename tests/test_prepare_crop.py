"""The crop pass hands the decoder's cropped yuv420p planes straight to the VP9 encoder: the model's window of its
clips (the centre 112 of 128) must show what `fer predict` crops (RGB via model_input_face) as closely as writing
those RGB crops would."""

from __future__ import annotations

import itertools

import numpy as np

from dali_pipelines.reference import center_crop, to_gray
from lightning_fer.prepare import PrepareParams, crop_face, track_boxes
from lightning_fer.prepare.crop import crop_face_planes, model_input_face
from lightning_fer.prepare.detect import detector_for
from lightning_fer.prepare.layout import Item
from lightning_fer.prepare.process import clip_path, process_item
from lightning_fer.video_io import DecodedFrame, iter_decoded, iter_frames, write_video

FRAMES = 40


def _gray_frames(path, size: int = 112) -> np.ndarray:
    """Gray of the model's centre window of every frame of a clip."""
    return np.stack([to_gray(center_crop(frame, size)) for frame in iter_frames(path)]).astype(np.int16)


def test_clip_from_planes_matches_predict_crops_as_well_as_rgb_encoding(test_media, tmp_path):
    video = test_media / "WolfgangLanger_Pexels.mp4"
    params = PrepareParams(max_frames=FRAMES)
    result = process_item(Item(video.resolve(), "wolf", "happy", "S0"), params, tmp_path)
    assert result.row is not None and result.row["frames"] == FRAMES
    assert next(iter_frames(clip_path(tmp_path, "wolf"))).shape == (128, 128, 3)
    track = track_boxes(itertools.islice(iter_decoded(video), FRAMES), detector_for(params), params)
    frames = list(itertools.islice(iter_decoded(video), FRAMES))
    predicted = np.stack([to_gray(model_input_face(frame, box, params))
                          for frame, box in zip(frames, track.boxes, strict=True)]).astype(np.int16)
    assert predicted.shape == (FRAMES, 112, 112)
    crops = [crop_face(frame, box, params.clip_size, params.margin, params.context)
             for frame, box in zip(frames, track.boxes, strict=True)]
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
