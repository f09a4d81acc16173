"""One source item -> one 112x112 VP9 face clip and a sidecar JSON that marks it finished.

Two decoding passes: the first finds the boxes (Haar bound, ~20-200 frames/s), the second crops
and encodes (decoding runs at >1,000 frames/s, so decoding twice is cheaper than holding a whole
video in memory). The clip is renamed into place by VideoWriter, then the sidecar is written
(temp + rename): a clip without a sidecar is unfinished and is redone by the next run.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import av
import numpy as np

from dali_pipelines.reference import equalize, to_gray
from lightning_fer.atomic_write import remove_partials, write_text
from lightning_fer.prepare.crop import crop_face
from lightning_fer.prepare.detect import detector_for
from lightning_fer.prepare.layout import Item
from lightning_fer.prepare.params import PrepareParams
from lightning_fer.prepare.track import track_boxes
from lightning_fer.video_io import IMAGE_SUFFIXES, VideoReadError, VideoWriter, iter_frames

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
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        return float(stream.average_rate or stream.guessed_rate or IMAGE_FPS), int(stream.frames or 0)


def _frames(path: Path, params: PrepareParams):
    frames = iter_frames(path)
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


def _produce(item: Item, params: PrepareParams, out: Path) -> ItemResult:
    _open_check(item.source)
    counter = [0]
    try:
        track = track_boxes(_checked(_frames(item.source, params), params, counter), detector_for(params))
        fps, stated = _stream_facts(item.source)
    except VideoReadError as err:
        where = f" after {counter[0]} frames" if counter[0] else ""
        detail = str(err).replace(f"{item.source}: ", "").replace(f": '{item.source}'", "")
        raise ItemFailure("cannot decode", detail + where) from err
    decoded = counter[0]
    if decoded == 0:
        raise ItemFailure("no frames", "no video frames decoded")
    if decoded < TRUNCATED_SHARE * stated and not (params.max_frames and decoded == params.max_frames):
        raise ItemFailure("truncated", f"decoded {decoded} of the {stated} frames the container states")
    if not track.found.any():
        raise ItemFailure("no face", f"no face found in {decoded} frames")
    kept = track.kept
    boxes = track.boxes[kept]
    gray = np.zeros(3)
    clip = clip_path(out, item.video_id)
    with VideoWriter(clip, fps=fps, codec="libvpx-vp9", gop=params.gop) as writer:
        for frame, box in zip(itertools.compress(_frames(item.source, params), kept), boxes, strict=False):
            face = crop_face(frame, box, size=params.size, margin=params.margin)
            writer.write(face)
            values = equalize(to_gray(face)).astype(np.float64) / 255.0
            gray += (values.sum(), np.square(values).sum(), values.size)
    if writer.frames_written != len(boxes):
        raise ItemFailure("cannot decode", f"second decoding pass gave {writer.frames_written} of {len(boxes)} frames")
    sides = boxes[:, 2:].max(axis=1)
    row = {
        "clip": clip.relative_to(out).as_posix(), "label": item.label, "label_index": item.label_index,
        "subject": item.subject, "video_id": item.video_id, "source": str(item.source),
        "frames": int(writer.frames_written), "fps": round(fps, 6),
        "detection_rate": round(float(track.found.mean()), 6), "frames_reused": int(track.reused.sum()),
        "frames_dropped": int(decoded - kept.sum()), "box_size_mean": round(float(sides.mean()), 3),
        "box_size_std": round(float(sides.std()), 3), "params_id": params.params_id,
    }
    return ItemResult(item.video_id, str(item.source), row=row, gray=gray.tolist(), frames_decoded=decoded,
                      faces_found=int(track.found.sum()))


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
