"""Facial-action parameters for the six classes, following the paper's section 2.1 descriptions.

Each class moves the same handful of facial features (brows, eyes, nose, mouth, cheeks) in its
own direction, strongly enough that a CNN on 112x112 grayscale crops can tell them apart across
children whose appearance differs. Values are offsets in face-local units (face half-width = 1,
positive y points down the face) applied to a neutral face.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

import numpy as np


@dataclass(frozen=True)
class Expression:
    """One face's expression state; all zeros/ones is the neutral face."""

    brow_raise: float = 0.0  # whole brow up (+) or down (-)
    brow_inner: float = 0.0  # inner brow ends up (+, sad/fear) or down (-, angry)
    brow_squeeze: float = 0.0  # inner ends pulled toward the midline
    eye_open: float = 1.0  # eye opening relative to neutral
    mouth_width: float = 0.34  # half-width of the mouth
    mouth_curve: float = 0.0  # corners up (+, smile) or down (-)
    mouth_open_top: float = 0.0  # upper-lip opening above the mouth line
    mouth_open_bottom: float = 0.0  # lower-lip opening below the mouth line
    mouth_roundness: float = 0.0  # 1 = elliptic "O" opening, 0 = lens-shaped
    teeth: float = 0.0  # visible teeth band (0 none .. 1 full)
    lip_press: float = 0.0  # lips thinned and pressed together
    upper_lip_raise: float = 0.0  # one-sided upper-lip raise (disgust)
    cheek_raise: float = 0.0  # raised cheeks and smile folds
    nose_wrinkle: float = 0.0  # horizontal wrinkles over the nose bridge
    frown_lines: float = 0.0  # vertical lines between the brows


NEUTRAL = Expression()

# Full-intensity expression per class (paper, section 2.1).
FULL: dict[str, Expression] = {
    # happy: mouth corners raised in a wide (open, teeth) smile, cheeks up, eyes slightly narrowed.
    "happy": Expression(brow_raise=0.02, eye_open=0.7, mouth_width=0.50, mouth_curve=0.17,
                        mouth_open_top=0.02, mouth_open_bottom=0.13, teeth=1.0, cheek_raise=1.0),
    # sad: inner brow ends raised, mouth corners pulled down, lids slightly lowered.
    "sad": Expression(brow_inner=0.16, brow_raise=0.0, eye_open=0.75, mouth_width=0.32,
                      mouth_curve=-0.16, lip_press=0.3),
    # angry: brows lowered and drawn together, lips pressed into a narrow line, glare.
    "angry": Expression(brow_raise=-0.09, brow_inner=-0.14, brow_squeeze=0.08, eye_open=0.75,
                        mouth_width=0.24, lip_press=1.0, frown_lines=1.0),
    # surprise: brows raised high (not higher: that hides the face from Haar), eyes wide open,
    # mouth dropped open in a round "O".
    "surprise": Expression(brow_raise=0.10, eye_open=1.6, mouth_width=0.16, mouth_open_top=0.10,
                           mouth_open_bottom=0.15, mouth_roundness=1.0),
    # fear: brows raised and drawn together, eyes wide, mouth stretched sideways, slightly open.
    "fear": Expression(brow_raise=0.07, brow_inner=0.10, brow_squeeze=0.07, eye_open=1.5,
                       mouth_width=0.50, mouth_curve=-0.05, mouth_open_top=0.04, mouth_open_bottom=0.06,
                       teeth=0.8),
    # disgust: nose wrinkled, upper lip raised (one-sided), brows lowered, eyes narrowed.
    "disgust": Expression(brow_raise=-0.06, brow_inner=-0.04, brow_squeeze=0.03, eye_open=0.6,
                          mouth_width=0.32, mouth_curve=-0.06, mouth_open_top=0.06, teeth=0.6,
                          upper_lip_raise=1.0, nose_wrinkle=1.0),
}


def blend(a: Expression, b: Expression, t: float) -> Expression:
    """Linear interpolation a -> b; t = 0 gives a, 1 gives b (onset ramps use this)."""
    return Expression(**{f.name: getattr(a, f.name) + (getattr(b, f.name) - getattr(a, f.name)) * t
                         for f in fields(Expression)})


def jittered(expr: Expression, rng: np.random.Generator, amount: float = 0.1) -> Expression:
    """A per-video variant: every moved parameter scaled by 1 +- `amount` so no two videos are identical."""
    changes = {}
    for f in fields(Expression):
        value, base = getattr(expr, f.name), getattr(NEUTRAL, f.name)
        if value != base:
            changes[f.name] = base + (value - base) * float(rng.uniform(1 - amount, 1 + amount))
    return replace(expr, **changes)


def onset_curve(n_frames: int, fps: float, rng: np.random.Generator) -> np.ndarray:
    """Expression intensity per frame: a smooth ramp from partly neutral to full over ~0.3-0.6 s, then
    a small flicker near full, like a child's spontaneous expression that builds and then holds."""
    t = np.arange(n_frames) / fps
    start = rng.uniform(0.15, 0.4)
    onset = rng.uniform(0.3, 0.6)
    x = np.clip(t / onset, 0.0, 1.0)
    ramp = start + (1 - start) * x * x * (3 - 2 * x)
    flicker = 1.0 - 0.06 * (0.5 + 0.5 * np.sin(2 * np.pi * rng.uniform(0.3, 0.8) * t + rng.uniform(0, 2 * np.pi)))
    return ramp * np.where(x >= 1.0, flicker, 1.0)
