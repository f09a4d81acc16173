"""One source item -> one square VP9 face clip (128 x 128 by default) and a sidecar JSON that marks it finished.

One decoding pass: frames stream through the face tracker (which holds back only a few frames) into
the crop and the encoder, so memory stays flat however long the video. With ``faces="cropped"`` there
is no detection: every image or frame already is the face and is squared and resized. The clip is
renamed into place by VideoWriter, then the sidecar is written (temp + rename): a clip without a
sidecar is unfinished and is redone by the next run.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import av
import numpy as np

from dali_pipelines.reference import center_crop, equalize, to_gray
from lightning_fer.atomic_write import remove_partials, write_text
from lightning_fer.prepare.crop import crop_face, crop_face_planes
from lightning_fer.prepare.detect import detector_for
from lightning_fer.prepare.layout import Item
from lightning_fer.prepare.params import PrepareParams
from lightning_fer.prepare.track import no_face_policy, tracked
from lightning_fer.video_io import IMAGE_SUFFIXES, DecodedFrame, VideoReadError, VideoWriter, iter_decoded

IMAGE_FPS = 25.0  # a still image becomes a one-frame clip at LIRIS-CSE's frame rate
TRUNCATED_SHARE = 0.9  # fewer decoded frames than this share of the stated count: truncated (counts are inexact)


class ItemFailure(Exception):
    """A source that yields no clip: ``reason`` is a short category, the message the details."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


@dataclass
class ItemResult:
    """What one item produced: a manifest row (or a failure), pixel sums and frame counters."""

    video_id: str
    source: str
    row: dict | None = None
    reason: str = ""
    detail: str = ""
    gray: list[float] = field(default_factory=lambda: [0.0, 0.0, 0.0])  # sum, sum of squares, count
    frames_decoded: int = 0
    faces_found: int = 0
    resumed: bool = False


def clip_path(out: Path, video_id: str) -> Path:
    return out / "clips" / f"{video_id}.mp4"


def sidecar_path(out: Path, video_id: str) -> Path:
    return out / "clips" / f"{video_id}.json"


def _fingerprint(path: Path) -> dict:
    stat = path.stat()
    return {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def _finished(item: Item, params: PrepareParams, out: Path) -> ItemResult | None:
    """The recorded result of an earlier run for the same source and parameters, if its clip is there."""
    try:
        done = json.loads(sidecar_path(out, item.video_id).read_text())
        same = (done["params_id"] == params.params_id and done["source"] == str(item.source)
                and done["fingerprint"] == _fingerprint(item.source))
        if same and clip_path(out, item.video_id).stat().st_size > 0:
            return ItemResult(**{**done["result"], "resumed": True})
    except (OSError, ValueError, KeyError, TypeError):
        pass
    return None


def _stream_facts(path: Path) -> tuple[float, int]:
    """Frame rate and the frame count the container states (0 when it states none)."""
    if path.suffix.lower() in IMAGE_SUFFIXES:
        return IMAGE_FPS, 1
    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            return float(stream.average_rate or stream.guessed_rate or IMAGE_FPS), int(stream.frames or 0)
    except (av.FFmpegError, OSError, IndexError) as err:
        raise VideoReadError(f"{path}: cannot read video ({err})") from err


def _frames(path: Path, params: PrepareParams):
    frames = iter_decoded(path)
    return itertools.islice(frames, params.max_frames) if params.max_frames else frames


def _checked(frames, params: PrepareParams, counter: list[int]):
    """Count frames as they pass; refuse oversized frames before Haar or memory suffer."""
    for frame in frames:
        if counter[0] == 0 and frame.shape[0] * frame.shape[1] > params.max_pixels:
            raise ItemFailure("frame too large", f"{frame.shape[1]}x{frame.shape[0]} frames exceed "
                              f"max_pixels={params.max_pixels:,}")
        counter[0] += 1
        yield frame


def _open_check(path: Path) -> None:
    try:
        with open(path, "rb") as handle:
            first = handle.read(1)
    except PermissionError as err:
        raise ItemFailure("permission denied", f"cannot open for reading ({err.strerror})") from err
    except OSError as err:
        raise ItemFailure("unreadable", f"cannot open ({err.strerror})") from err
    if not first:
        raise ItemFailure("empty file", "zero bytes")


def _boxes(frames, params: PrepareParams):
    """(frame, box or NaN row, face found, box reused) per frame: tracked faces, or the whole frame when cropped."""
    if params.faces == "cropped":
        for frame in frames:
            yield frame, np.array([0.0, 0.0, frame.shape[1], frame.shape[0]]), True, False
        return
    yield from no_face_policy(tracked(frames, detector_for(params), params), params.no_face, params.reuse_max)


def _produce(item: Item, params: PrepareParams, out: Path) -> ItemResult:
    _open_check(item.source)
    counter = [0]
    clip = clip_path(out, item.video_id)
    margin = 0.0 if params.faces == "cropped" else params.margin
    histogram = np.zeros(256, np.int64)  # equalized gray levels of every written face (for the pixel stats)
    sides, found, reused = [], 0, 0
    try:
        fps, stated = _stream_facts(item.source)
        with VideoWriter(clip, fps=fps, codec="libvpx-vp9", gop=params.gop) as writer:
            for frame, box, face_found, box_reused in _boxes(_checked(_frames(item.source, params), params, counter),
                                                               params):
                found += face_found
                if np.isnan(box[0]):
                    continue
                reused += box_reused
                planes = crop_face_planes(frame, box, params.clip_size, margin, params.context)
                if planes is not None:  # straight from the decoder's planes to the encoder's
                    writer.write_yuv420(planes)
                    gray = DecodedFrame(planes=planes, size=(params.clip_size, params.clip_size)).gray()
                else:
                    face = crop_face(frame, box, params.clip_size, margin, params.context)
                    writer.write(face)
                    gray = to_gray(face)
                window = center_crop(gray, params.input_size, channels=False)  # what the model sees, untouched
                histogram += np.bincount(equalize(window).ravel(), minlength=256)
                sides.append(max(box[2], box[3]))
            _check_counts(counter[0], stated, found, params)
    except VideoReadError as err:
        where = f" after {counter[0]} frames" if counter[0] else ""
        detail = str(err).replace(f"{item.source}: ", "").replace(f": '{item.source}'", "")
        raise ItemFailure("cannot decode", detail + where) from err
    decoded = counter[0]
    levels = np.arange(256) / 255.0
    gray = np.array([histogram @ levels, histogram @ np.square(levels), histogram.sum()], dtype=np.float64)
    side = np.asarray(sides)
    row = {
        "clip": clip.relative_to(out).as_posix(), "label": item.label, "label_index": item.label_index,
        "subject": item.subject, "video_id": item.video_id, "source": str(item.source),
        "frames": int(writer.frames_written), "fps": round(fps, 6),
        "detection_rate": round(found / decoded, 6), "frames_reused": int(reused),
        "frames_dropped": int(decoded - len(sides)), "box_size_mean": round(float(side.mean()), 3),
        "box_size_std": round(float(side.std()), 3), "params_id": params.params_id,
    }
    return ItemResult(item.video_id, str(item.source), row=row, gray=gray.tolist(), frames_decoded=decoded,
                      faces_found=int(found))


def _check_counts(decoded: int, stated: int, found: int, params: PrepareParams) -> None:
    """Refuse (before the clip is renamed into place) a source with no frames, cut short, or without a face."""
    if decoded == 0:
        raise ItemFailure("no frames", "no video frames decoded")
    if decoded < TRUNCATED_SHARE * stated and not (params.max_frames and decoded == params.max_frames):
        raise ItemFailure("truncated", f"decoded {decoded} of the {stated} frames the container states")
    if not found:
        raise ItemFailure("no face", f"no face found in {decoded} frames")


def _write_sidecar(result: ItemResult, item: Item, params: PrepareParams, out: Path) -> None:
    path = sidecar_path(out, item.video_id)
    record = {"params_id": params.params_id, "source": str(item.source), "fingerprint": _fingerprint(item.source),
              "result": asdict(result)}
    write_text(path, json.dumps(record, indent=1))


def process_item(item: Item, params: PrepareParams, out: str | Path) -> ItemResult:
    """Make (or find finished) the face clip of one item; failures come back as results, not raised."""
    out = Path(out)
    done = _finished(item, params, out)
    if done is not None:
        return done
    clips = out / "clips"
    clips.mkdir(parents=True, exist_ok=True)
    for path in (clip_path(out, item.video_id), sidecar_path(out, item.video_id)):  # left by a killed run
        remove_partials(path)
    sidecar_path(out, item.video_id).unlink(missing_ok=True)
    try:
        result = _produce(item, params, out)
    except ItemFailure as err:
        clip_path(out, item.video_id).unlink(missing_ok=True)
        return ItemResult(item.video_id, str(item.source), reason=err.reason, detail=str(err))
    except Exception as err:  # an unforeseen decoder/encoder error must not stop the pass
        clip_path(out, item.video_id).unlink(missing_ok=True)
        return ItemResult(item.video_id, str(item.source), reason="error", detail=f"{type(err).__name__}: {err}")
    _write_sidecar(result, item, params, out)
    return result
