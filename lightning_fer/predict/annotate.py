"""Draw the predictions onto frames: each face's box, track id and smoothed label, and six probability bars.

The annotated video is H.264 (PyAV's libx264) so any player opens it; odd frame sides are trimmed by
one pixel because yuv420p needs even sides.
"""

from __future__ import annotations

import cv2
import numpy as np

from lightning_fer.predict.results import FaceRow

_COLORS = [(230, 60, 60), (120, 180, 40), (150, 80, 200), (250, 200, 40), (60, 120, 230), (240, 130, 30)]


def annotate(frame: np.ndarray, rows: list[FaceRow], classes: tuple[str, ...]) -> np.ndarray:
    """A copy of the RGB frame with every face of ``rows`` drawn (or a "no face" note)."""
    out = np.ascontiguousarray(frame[: frame.shape[0] // 2 * 2, : frame.shape[1] // 2 * 2]).copy()
    faces = [r for r in rows if r.track_id is not None]
    if not faces:
        cv2.putText(out, "no face", (8, 22), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (255, 255, 255), 2, cv2.LINE_AA)
        return out
    for row in faces:
        x, y, w, h = (int(round(v)) for v in row.box)
        probs = row.smoothed_probs if row.smoothed_probs is not None else row.probs
        color = _COLORS[int(np.argmax(probs)) % len(_COLORS)]
        cv2.rectangle(out, (x, y), (x + w, y + h), color, 2)
        caption = f"#{row.track_id} {row.smoothed_label} {float(np.max(probs)):.0%}"
        cv2.putText(out, caption, (x, max(14, y - 6)), cv2.FONT_HERSHEY_SIMPLEX, 0.5, color, 2, cv2.LINE_AA)
        _bars(out, probs, classes, x + w + 6 if x + w + 120 < out.shape[1] else max(0, x - 120), y)
    return out


def _bars(image: np.ndarray, probs: np.ndarray, classes: tuple[str, ...], left: int, top: int) -> None:
    for i, (name, p) in enumerate(zip(classes, probs, strict=True)):
        y = top + i * 14
        if y + 12 > image.shape[0]:
            break
        cv2.rectangle(image, (left, y), (left + 50, y + 10), (40, 40, 40), -1)
        cv2.rectangle(image, (left, y), (left + int(50 * float(p)), y + 10), _COLORS[i % len(_COLORS)], -1)
        cv2.putText(image, name, (left + 54, y + 9), cv2.FONT_HERSHEY_SIMPLEX, 0.35, (255, 255, 255), 1, cv2.LINE_AA)
