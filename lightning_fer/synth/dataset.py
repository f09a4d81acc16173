"""Generate the synthetic demo dataset in the LIRIS-CSE layout: ``OUT/videos/S<child>_<emotion>_<n>.mp4``.

The real LIRIS-CSE videos cannot be shipped (granted on request), so the demo trains on these.
File names use the canonical class names; `fer prepare` maps LIRIS-CSE's spelling variants
(happiness, anger, surprised...) through :func:`lightning_fer.classes.canonical_label`.

    fer synth data/demo                      # 6 children x 6 classes x 2 videos, 3 s at 25 fps
    fer synth data/demo --with-bad-files     # plus four broken files to exercise error reports

Clips are rendered in a process pool; each clip seeds its own generator from
(seed, child, class, n), so the rendered frames do not depend on the worker count or order.
(The H.264 encode itself is not bit-exact between encodes in one process: decoded frames of
two runs differ by ~0.02 gray levels on average.)
Videos are written atomically (temporary name, then rename) and ``OUT/synth.json`` last, so its
presence means the dataset is complete.
"""

from __future__ import annotations

import json
import math
import multiprocessing
import os
import time
from dataclasses import dataclass
from pathlib import Path

from lightning_fer.atomic_write import write_text
from lightning_fer.classes import CLASSES
from lightning_fer.errors import UserError
from lightning_fer.synth.bad_files import BAD_CHILD, remove_bad_files, write_bad_files
from lightning_fer.synth.summary import SynthSummary

MIN_SIDE = 128  # smaller frames make faces too small for the cascade's 40 px minimum
MAX_SIDE = 4096


@dataclass(frozen=True)
class _Job:
    path: Path
    seed: int
    child: int
    label: str
    index: int
    n_frames: int
    fps: int
    width: int
    height: int
    detect_every: int


def video_name(child: int, label: str, index: int) -> str:
    """LIRIS-CSE style file name of one clip."""
    return f"S{child}_{label}_{index}.mp4"


def _make_video(job: _Job) -> tuple[_Job, int, int, int]:
    """Render, encode and check one clip; returns (job, frames written, face hits, frames sampled)."""
    import cv2

    from lightning_fer.synth.clip import iter_clip
    from lightning_fer.synth.detect import count_detections
    from lightning_fer.video_io import write_video

    cv2.setNumThreads(1)
    frames = iter_clip(job.seed, job.child, job.label, job.index, job.n_frames, job.fps, job.width, job.height)
    written = write_video(job.path, frames, fps=job.fps, codec="libx264")
    hits, sampled = count_detections(job.path, job.detect_every)
    return job, written, hits, sampled


def validate(out: Path, children: int, videos_per_class: int, seconds: float, fps: int, width: int, height: int,
             seed: int, workers: int | None) -> None:
    """Reject bad arguments before anything is written."""
    if not 1 <= children < BAD_CHILD:
        raise UserError(f"--children must be between 1 and {BAD_CHILD - 1}, got {children}")
    if videos_per_class < 1:
        raise UserError(f"--videos-per-class must be at least 1, got {videos_per_class}")
    if not (math.isfinite(seconds) and seconds > 0):
        raise UserError(f"--seconds must be a positive number, got {seconds}")
    if fps < 1:
        raise UserError(f"--fps must be at least 1, got {fps}")
    if round(seconds * fps) < 1:
        raise UserError(f"--seconds {seconds} at {fps} fps gives no frames")
    for name, side in (("width", width), ("height", height)):
        if not MIN_SIDE <= side <= MAX_SIDE or side % 2:
            raise UserError(f"frame {name} must be even and between {MIN_SIDE} and {MAX_SIDE} pixels, got {side}")
    if seed < 0:
        raise UserError(f"--seed must be non-negative, got {seed}")
    if workers is not None and workers < 1:
        raise UserError(f"--workers must be at least 1, got {workers}")
    _check_writable(out)


def _check_writable(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise UserError(f"output {out} exists and is not a directory")
    if (out / "videos").exists() and not (out / "videos").is_dir():
        raise UserError(f"{out / 'videos'} exists and is not a directory")
    ancestor = out
    while not ancestor.exists():
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise UserError(f"cannot create output {out}: {ancestor} is not a directory")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise UserError(f"cannot create output {out}: {ancestor} is not writable")


def generate_dataset(out: Path, children: int = 6, videos_per_class: int = 2, seconds: float = 3.0, fps: int = 25,
                     width: int = 320, height: int = 240, seed: int = 0, with_bad_files: bool = False,
                     workers: int | None = None, detect_every: int = 5, progress: bool = True) -> SynthSummary:
    """Write the dataset into `out` and return its summary (also saved as ``out/synth.json``)."""
    from tqdm import tqdm

    out = Path(out)
    validate(out, children, videos_per_class, seconds, fps, width, height, seed, workers)
    started = time.perf_counter()
    n_frames = round(seconds * fps)
    parameters = dict(children=children, videos_per_class=videos_per_class, seconds=seconds, fps=fps,
                      width=width, height=height, seed=seed, with_bad_files=with_bad_files, frames_per_video=n_frames)
    try:
        (out / "videos").mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise UserError(f"cannot create output {out}: {err.strerror}") from err
    (out / "synth.json").unlink(missing_ok=True)  # a rerun is incomplete until it finishes
    remove_bad_files(out)

    jobs = [_Job(out / "videos" / video_name(child, label, index), seed, child, label, index, n_frames, fps,
                 width, height, detect_every)
            for child in range(1, children + 1) for label in CLASSES for index in range(1, videos_per_class + 1)]
    workers = min(workers or os.cpu_count() or 1, len(jobs))
    counts: dict[int, dict[str, int]] = {child: dict.fromkeys(CLASSES, 0) for child in range(1, children + 1)}
    frames = hits = sampled = 0
    with tqdm(total=len(jobs), unit="video", desc="fer synth", disable=not progress) as bar:
        for job, written, job_hits, job_sampled in _run(jobs, workers):
            counts[job.child][job.label] += 1
            frames, hits, sampled = frames + written, hits + job_hits, sampled + job_sampled
            bar.update()
    files = [str(job.path.relative_to(out)) for job in jobs]
    bad = []
    if with_bad_files:
        bad = write_bad_files(out, jobs[0].path, n_frames, fps, width, height, seed)
        files += [item["file"] for item in bad] + ["bad_files.json"]
    summary = SynthSummary(out=out, parameters=parameters, counts=counts, frames=frames, files=files + ["synth.json"],
                           detection_hits=hits, detection_sampled=sampled, detection_every=detect_every,
                           bad_files=bad, elapsed_s=time.perf_counter() - started)
    record = {"parameters": parameters, "summary": summary.to_dict()}
    write_text(out / "synth.json", json.dumps(record, indent=2) + "\n")  # last: its presence means complete
    return summary


def _run(jobs: list[_Job], workers: int):
    if workers <= 1:
        yield from map(_make_video, jobs)
        return
    # spawn: no forked copies of the parent's threads (tqdm, torch) in the workers.
    with multiprocessing.get_context("spawn").Pool(workers) as pool:
        yield from pool.imap_unordered(_make_video, jobs)

