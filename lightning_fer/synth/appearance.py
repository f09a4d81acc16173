"""Per-child appearance: what stays the same across all of one synthetic child's videos.

Face shape, skin tone, hair, feature placement, size and position in the frame differ between
children and are drawn deterministically from (seed, child), so a held-out-child split tests
whether a model learned expressions rather than faces.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# RGB skin tones from light to deep; kept bright enough that dark eye bands still stand out for Haar.
SKIN_TONES = np.array([
    [236, 200, 178], [226, 184, 150], [214, 170, 135], [198, 150, 112],
    [178, 128, 92], [156, 108, 76], [132, 92, 66],
], dtype=np.float32)

HAIR_COLORS = np.array([
    [30, 24, 20], [58, 40, 28], [92, 62, 38], [40, 34, 40], [120, 84, 48], [150, 110, 60],
], dtype=np.float32)


@dataclass(frozen=True)
class ChildAppearance:
    """Everything about one child's face that does not depend on expression or time."""

    skin: tuple[float, float, float]  # RGB
    hair: tuple[float, float, float]  # RGB
    lip: tuple[float, float, float]  # RGB
    iris: tuple[float, float, float]  # RGB
    aspect: float  # face half-height / half-width (face-local units: half-width = 1)
    size: float  # face half-width as a fraction of min(frame width, height)
    center: tuple[float, float]  # face centre as fractions of frame width, height
    hair_style: int  # 0 short, 1 fringe, 2 long sides, 3 parted
    hair_line: float  # forehead hair edge (face-local y)
    eye_spacing: float  # eye centre |x| (face-local)
    eye_height: float  # eye centre y (face-local)
    eye_size: float  # eye half-width (face-local)
    brow_thickness: float
    mouth_height: float  # mouth line y (face-local)
    nose_length: float  # nostril y (face-local)
    chin: float  # 0 round .. 1 pointed lower face


def child_appearance(seed: int, child: int) -> ChildAppearance:
    """The appearance of child `child` (1-based) for dataset `seed`; the same inputs give the same child."""
    rng = np.random.default_rng([seed, child, 7919])
    skin = SKIN_TONES[(child - 1 + int(rng.integers(0, 2))) % len(SKIN_TONES)] * rng.uniform(0.96, 1.04, 3)
    hair = HAIR_COLORS[int(rng.integers(0, len(HAIR_COLORS)))] * rng.uniform(0.85, 1.15)
    lip = skin * np.array([0.78, 0.52, 0.52]) * rng.uniform(0.9, 1.05)
    iris = np.array([[70, 45, 25], [60, 90, 120], [80, 100, 60], [40, 30, 25]])[int(rng.integers(0, 4))]
    return ChildAppearance(
        skin=tuple(np.clip(skin, 0, 255).tolist()),
        hair=tuple(np.clip(hair, 0, 255).tolist()),
        lip=tuple(np.clip(lip, 0, 255).tolist()),
        iris=tuple(float(v) for v in iris),
        aspect=float(rng.uniform(1.18, 1.38)),
        size=float(rng.uniform(0.19, 0.25)),
        center=(float(rng.uniform(0.4, 0.6)), float(rng.uniform(0.47, 0.55))),
        hair_style=int(rng.integers(0, 4)),
        hair_line=float(rng.uniform(-0.78, -0.64)),
        eye_spacing=float(rng.uniform(0.36, 0.42)),
        eye_height=float(rng.uniform(-0.12, -0.04)),
        eye_size=float(rng.uniform(0.16, 0.2)),
        brow_thickness=float(rng.uniform(0.05, 0.075)),
        mouth_height=float(rng.uniform(0.6, 0.68)),
        nose_length=float(rng.uniform(0.3, 0.36)),
        chin=float(rng.uniform(0.0, 1.0)),
    )
