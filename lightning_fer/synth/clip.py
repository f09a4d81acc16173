"""One synthetic clip as a stream of RGB frames: a child, an expression with its onset, motion, light.

Every clip draws its randomness from its own generator seeded by (seed, child, class, n), so
clips can be rendered in any order, in any process, and come out identical.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from lightning_fer.classes import label_index
from lightning_fer.synth.appearance import child_appearance
from lightning_fer.synth.expressions import FULL, NEUTRAL, blend, jittered, onset_curve
from lightning_fer.synth.face import render_face
from lightning_fer.synth.motion import Lighting, background, pose_track


def clip_rng(seed: int, child: int, label: str, index: int) -> np.random.Generator:
    """The generator for one clip; independent of every other clip's."""
    return np.random.default_rng([seed, child, label_index(label), index])


def iter_clip(seed: int, child: int, label: str, index: int, n_frames: int, fps: float, width: int,
              height: int) -> Iterator[np.ndarray]:
    """Yield the clip's H x W x 3 uint8 RGB frames."""
    rng = clip_rng(seed, child, label, index)
    app = child_appearance(seed, child)
    full = jittered(FULL[label], rng)
    intensity = onset_curve(n_frames, fps, rng)
    poses = pose_track(app, n_frames, fps, width, height, rng)
    backdrop = background(width, height, rng)
    light = Lighting.sample(width, height, rng)
    for i in range(n_frames):
        frame = backdrop.copy()
        render_face(frame, app, blend(NEUTRAL, full, float(intensity[i])), poses[i])
        yield light.apply(frame, i / max(n_frames - 1, 1), rng)


def iter_empty_clip(seed: int, n_frames: int, width: int, height: int) -> Iterator[np.ndarray]:
    """Yield frames of a clip with background, light change and noise but no face (a bad-data example)."""
    rng = np.random.default_rng([seed, 99, 99])
    backdrop = background(width, height, rng)
    light = Lighting.sample(width, height, rng)
    for i in range(n_frames):
        yield light.apply(backdrop, i / max(n_frames - 1, 1), rng)
