"""Per-frame prediction rows, their temporal smoothing, the per-video summary, and the CSV/JSON files.

One row per face per frame (``track_id``, box, six probabilities, label), or one ``"no face"`` row for
a frame without a face, so a reader can always line rows up with frames. Smoothing averages each
track's probabilities over a centered window of frames in which that track is present; single-frame
label flicker would otherwise dominate a per-video summary.
"""

from __future__ import annotations

import csv
import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from lightning_fer.atomic_write import atomic_path, write_text

NO_FACE = "no face"


@dataclass
class FaceRow:
    """One face in one frame (``track_id`` None and ``probs`` None for a "no face" row)."""

    frame: int
    time: float
    track_id: int | None = None
    box: tuple[float, float, float, float] | None = None
    probs: np.ndarray | None = None
    label: str = NO_FACE
    smoothed_label: str = NO_FACE
    smoothed_probs: np.ndarray | None = field(default=None, repr=False)


def smooth_labels(rows: list[FaceRow], classes: tuple[str, ...], window: int) -> None:
    """Fill ``smoothed_probs``/``smoothed_label``: per track, mean over a centered window within runs."""
    half = max(0, window // 2)
    by_track: dict[int, list[FaceRow]] = {}
    for row in rows:
        if row.track_id is not None:
            by_track.setdefault(row.track_id, []).append(row)
    for track in by_track.values():
        track.sort(key=lambda r: r.frame)
        probs = np.stack([r.probs for r in track]).astype(np.float64)
        frames = np.array([r.frame for r in track])
        run_id = np.concatenate([[0], np.cumsum(np.diff(frames) != 1)])
        csum = np.vstack([np.zeros((1, probs.shape[1])), np.cumsum(probs, axis=0)])
        for i, row in enumerate(track):
            lo, hi = max(0, i - half), min(len(track), i + half + 1)
            while run_id[lo] != run_id[i]:
                lo += 1
            while run_id[hi - 1] != run_id[i]:
                hi -= 1
            row.smoothed_probs = ((csum[hi] - csum[lo]) / (hi - lo)).astype(np.float32)
            row.smoothed_label = classes[int(np.argmax(row.smoothed_probs))]


def summarize(rows: list[FaceRow], classes: tuple[str, ...], fps: float, frames: int, source: str) -> dict:
    """Share of time in each expression (smoothed label of the largest face per frame; "no face" too),
    overall and per track."""
    primary: dict[int, FaceRow] = {}
    for row in rows:
        if row.track_id is None:
            continue
        best = primary.get(row.frame)
        if best is None or row.box[2] * row.box[3] > best.box[2] * best.box[3]:
            primary[row.frame] = row
    counts = Counter(primary[f].smoothed_label if f in primary else NO_FACE for f in range(frames))
    tracks: dict[int, Counter] = {}
    for row in rows:
        if row.track_id is not None:
            tracks.setdefault(row.track_id, Counter())[row.smoothed_label] += 1
    names = (*classes, NO_FACE)
    return {
        "source": source,
        "frames": frames,
        "fps": fps,
        "seconds": frames / fps if fps else None,
        "frames_with_face": len(primary),
        "share_of_time": {name: counts[name] / frames if frames else 0.0 for name in names},
        "dominant": max(classes, key=lambda c: counts[c]) if primary else NO_FACE,
        "tracks": {str(t): {"frames": sum(c.values()), "seconds": sum(c.values()) / fps if fps else None,
                            "share": {name: c[name] / sum(c.values()) for name in classes}}
                   for t, c in sorted(tracks.items())},
    }


def columns(classes: tuple[str, ...]) -> list[str]:
    return ["frame", "time", "track_id", "x", "y", "w", "h", *[f"p_{c}" for c in classes], "label",
            "smoothed_label"]


def as_record(row: FaceRow, classes: tuple[str, ...]) -> dict:
    record: dict[str, object] = {"frame": row.frame, "time": round(row.time, 4), "track_id": row.track_id}
    for key, value in zip("xywh", row.box if row.box is not None else (None,) * 4, strict=True):
        record[key] = None if value is None else round(float(value), 1)
    for i, c in enumerate(classes):
        record[f"p_{c}"] = None if row.probs is None else round(float(row.probs[i]), 6)
    record["label"], record["smoothed_label"] = row.label, row.smoothed_label
    return record


def write_outputs(out_dir: Path, name: str, rows: list[FaceRow], summary: dict, classes: tuple[str, ...],
                  meta: dict) -> dict[str, Path]:
    """NAME.csv (per frame), NAME.json (meta, summary, per frame) - each written to a temp name, then renamed."""
    out_dir.mkdir(parents=True, exist_ok=True)
    records = [as_record(r, classes) for r in rows]
    paths = {"csv": out_dir / f"{name}.csv", "json": out_dir / f"{name}.json"}
    with atomic_path(paths["csv"]) as tmp, tmp.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns(classes))
        writer.writeheader()
        writer.writerows({k: "" if v is None else v for k, v in rec.items()} for rec in records)
    write_text(paths["json"], json.dumps({**meta, "summary": summary, "frames": records}, indent=1) + "\n")
    return paths


def format_summary(summary: dict) -> str:
    """One readable line per source: duration, face coverage, shares of time above 1 %."""
    shares = ", ".join(f"{k} {v:.0%}" for k, v in sorted(summary["share_of_time"].items(), key=lambda kv: -kv[1])
                       if v >= 0.01)
    seconds = f"{summary['seconds']:.1f} s, " if summary.get("seconds") else ""
    return (f"{summary['source']}: {summary['frames']} frames ({seconds}face on {summary['frames_with_face']}), "
            f"tracks {len(summary['tracks'])}; {shares or 'no frames'}")
