"""What changes over a clip besides the expression: head motion, lighting and sensor noise.

Home recordings of children (LIRIS-CSE) have a moving head, changing light and a noisy webcam;
the synthetic clips get small versions of each so that the face-crop pass and the model see
frame-to-frame variation rather than one still image repeated.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from lightning_fer.synth.appearance import ChildAppearance
from lightning_fer.synth.face import Pose


def background(width: int, height: int, rng: np.random.Generator) -> np.ndarray:
    """A smooth room-like backdrop (H x W x 3 uint8): a colour gradient with a few soft blobs."""
    top, bottom = rng.uniform(50, 210, 3), rng.uniform(50, 210, 3)
    ramp = np.linspace(0.0, 1.0, height, dtype=np.float32)[:, None, None]
    img = np.broadcast_to(top + (bottom - top) * ramp, (height, width, 3)).astype(np.float32)
    img = img.copy()
    for _ in range(int(rng.integers(2, 5))):
        x0, y0 = int(rng.uniform(0, width)), int(rng.uniform(0, height))
        x1, y1 = x0 + int(rng.uniform(0.1, 0.4) * width), y0 + int(rng.uniform(0.1, 0.4) * height)
        cv2.rectangle(img, (x0, y0), (x1, y1), rng.uniform(40, 220, 3).tolist(), -1)
    k = (min(width, height) // 8) | 1
    return np.clip(cv2.GaussianBlur(img, (k, k), 0), 0, 255).astype(np.uint8)


def pose_track(app: ChildAppearance, n_frames: int, fps: float, width: int, height: int,
               rng: np.random.Generator) -> list[Pose]:
    """Per-frame head pose: the child's usual place and size plus slow sway, nod, roll and lean-in."""
    t = np.arange(n_frames) / fps
    side = min(width, height)

    def sway(amplitude: float) -> np.ndarray:
        f1, f2 = rng.uniform(0.15, 0.5), rng.uniform(0.5, 1.2)
        p1, p2 = rng.uniform(0, 2 * np.pi, 2)
        return amplitude * (0.75 * np.sin(2 * np.pi * f1 * t + p1) + 0.25 * np.sin(2 * np.pi * f2 * t + p2))

    cx = app.center[0] * width + rng.uniform(-0.03, 0.03) * width + sway(0.04 * width)
    cy = app.center[1] * height + rng.uniform(-0.02, 0.02) * height + sway(0.03 * height)
    drift = rng.uniform(-0.05, 0.05) * t / max(float(t[-1]), 1e-6)
    scale = app.size * side * rng.uniform(0.95, 1.05) * (1 + drift + sway(0.025))
    angle = rng.uniform(-3, 3) + sway(4.0)
    return [Pose(float(x), float(y), float(s), float(a)) for x, y, s, a in zip(cx, cy, scale, angle, strict=True)]


@dataclass(frozen=True)
class Lighting:
    """Global gain ramp (0.8-1.2), a left-right light gradient, and Gaussian sensor noise."""

    gain_start: float
    gain_end: float
    gradient: np.ndarray  # H x W x 1 float32 multiplicative shading
    noise_sigma: float

    @classmethod
    def sample(cls, width: int, height: int, rng: np.random.Generator) -> Lighting:
        gain_start, gain_end = rng.uniform(0.8, 1.2, 2)
        strength, angle = rng.uniform(0.0, 0.15), rng.uniform(0, 2 * np.pi)
        ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
        direction = (np.cos(angle) * (xs / width - 0.5) + np.sin(angle) * (ys / height - 0.5)) * 2
        gradient = (1 + strength * direction)[..., None].astype(np.float32)
        return cls(float(gain_start), float(gain_end), gradient, float(rng.uniform(2.0, 6.0)))

    def apply(self, frame: np.ndarray, position: float, rng: np.random.Generator) -> np.ndarray:
        """Light and noise for the frame at `position` in [0, 1] of the clip; returns a new uint8 frame."""
        gain = self.gain_start + (self.gain_end - self.gain_start) * position
        lit = frame.astype(np.float32) * (self.gradient * np.float32(gain))
        lit += rng.standard_normal(frame.shape, dtype=np.float32) * np.float32(self.noise_sigma)
        return np.clip(lit, 0, 255).astype(np.uint8)
