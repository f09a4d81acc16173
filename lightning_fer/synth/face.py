"""Draw one child's face with one expression into an RGB frame, with OpenCV primitives.

The stock Haar cascade finds faces by dark eye bands over brighter cheeks and a bright nose
bridge, so the face gets radial shading, soft eye-socket, nose and lip shadows (blurred), a
highlighted bridge and cheeks, and hair framing the forehead (docs/DESIGN_NOTES.md, platform facts). Geometry lives in
face-local units (half-width = 1, y down) mapped to pixels by a similarity transform, so head
motion is just a different :class:`Pose`.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from lightning_fer.synth.appearance import ChildAppearance
from lightning_fer.synth.expressions import Expression

_SHIFT = 4  # sub-pixel bits for cv2 drawing
_SCALE = 1 << _SHIFT


@dataclass(frozen=True)
class Pose:
    """Where the face is in the frame: centre (px), half-width (px) and in-plane rotation (degrees)."""

    cx: float
    cy: float
    scale: float
    angle: float


class _Mapper:
    """Face-local (u, v) -> pixel coordinates."""

    def __init__(self, pose: Pose) -> None:
        self.pose = pose
        theta = np.deg2rad(pose.angle)
        self.cos, self.sin = float(np.cos(theta)), float(np.sin(theta))

    def points(self, uv: np.ndarray) -> np.ndarray:
        """N x 2 face-local points -> N x 2 fixed-point int32 pixel coordinates for cv2 (shift=_SHIFT)."""
        uv = np.asarray(uv, dtype=np.float64).reshape(-1, 2)
        s = self.pose.scale
        x = self.pose.cx + s * (uv[:, 0] * self.cos - uv[:, 1] * self.sin)
        y = self.pose.cy + s * (uv[:, 0] * self.sin + uv[:, 1] * self.cos)
        return np.round(np.stack([x, y], axis=1) * _SCALE).astype(np.int32)

    def length(self, value: float) -> int:
        return max(1, int(round(value * self.pose.scale * _SCALE)))

    def thickness(self, value: float) -> int:
        return max(1, int(round(value * self.pose.scale)))


def _ellipse_uv(cu: float, cv: float, ru: float, rv: float, n: int = 28, tilt: float = 0.0) -> np.ndarray:
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    u, v = ru * np.cos(t), rv * np.sin(t)
    c, s = np.cos(tilt), np.sin(tilt)
    return np.stack([cu + u * c - v * s, cv + u * s + v * c], axis=1)


def _fill(img: np.ndarray, m: _Mapper, uv: np.ndarray, color) -> None:
    cv2.fillPoly(img, [m.points(uv)], color, cv2.LINE_AA, _SHIFT)


def _line(img: np.ndarray, m: _Mapper, uv: np.ndarray, color, width: float) -> None:
    cv2.polylines(img, [m.points(uv)], False, color, m.thickness(width), cv2.LINE_AA, _SHIFT)


def face_outline(app: ChildAppearance, n: int = 64) -> np.ndarray:
    """Face contour in face-local units: an ellipse whose lower half narrows toward the chin."""
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    lower = np.clip(np.sin(t), 0, None)
    u = np.cos(t) * (1 - 0.22 * app.chin * lower ** 2)
    return np.stack([u, app.aspect * np.sin(t)], axis=1)


def render_face(frame: np.ndarray, app: ChildAppearance, expr: Expression, pose: Pose) -> None:
    """Draw the face into `frame` (H x W x 3 uint8 RGB, modified in place)."""
    m = _Mapper(pose)
    _draw_back_hair(frame, m, app)
    _draw_skin(frame, m, app, pose)
    _apply_shadows(frame, m, app, expr, pose)
    _draw_eyes(frame, m, app, expr)
    _draw_brows(frame, m, app, expr)
    _draw_nose(frame, m, app, expr)
    _draw_mouth(frame, m, app, expr)
    _draw_front_hair(frame, m, app)


def _draw_back_hair(frame: np.ndarray, m: _Mapper, app: ChildAppearance) -> None:
    hair = tuple(app.hair)
    a = app.aspect
    _fill(frame, m, _ellipse_uv(0, -0.2 * a, 1.16, a * 0.9), hair)
    if app.hair_style == 2:  # long hair down the sides
        uv = np.array([[-1.2, -0.3 * a], [1.2, -0.3 * a], [1.25, 1.05 * a], [-1.25, 1.05 * a]])
        _fill(frame, m, uv, hair)


def _face_window(frame: np.ndarray, app: ChildAppearance, pose: Pose) -> tuple[int, int, int, int] | None:
    """The frame region (x0, x1, y0, y1) that can hold the face, clipped to the frame; None when off-frame."""
    h, w = frame.shape[:2]
    r = pose.scale * (app.aspect + 0.1)
    x0, x1 = max(0, int(pose.cx - r)), min(w, int(pose.cx + r) + 1)
    y0, y1 = max(0, int(pose.cy - r)), min(h, int(pose.cy + r) + 1)
    return None if x0 >= x1 or y0 >= y1 else (x0, x1, y0, y1)


def _draw_skin(frame: np.ndarray, m: _Mapper, app: ChildAppearance, pose: Pose) -> None:
    """Skin with radial shading (bright centre, darker rim), composited through an antialiased mask."""
    window = _face_window(frame, app, pose)
    if window is None:
        return
    x0, x1, y0, y1 = window
    mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
    sub = _Mapper(Pose(pose.cx - x0, pose.cy - y0, pose.scale, pose.angle))
    _fill(mask, sub, face_outline(app), 255)
    ys, xs = np.mgrid[y0:y1, x0:x1].astype(np.float32)
    dx, dy = xs - pose.cx, ys - pose.cy
    u = (dx * m.cos + dy * m.sin) / pose.scale
    v = (-dx * m.sin + dy * m.cos) / pose.scale
    radius2 = u * u + (v / app.aspect) ** 2
    shade = 1.12 - 0.42 * np.clip(radius2, 0, 1.2) ** 1.5
    skin = np.asarray(app.skin, np.float32)
    face = shade[..., None] * skin
    alpha = mask.astype(np.float32)[..., None] / 255.0
    region = frame[y0:y1, x0:x1].astype(np.float32)
    frame[y0:y1, x0:x1] = np.clip(region * (1 - alpha) + face * alpha, 0, 255).astype(np.uint8)


def _apply_shadows(frame: np.ndarray, m: _Mapper, app: ChildAppearance, expr: Expression, pose: Pose) -> None:
    """Blurred multiplicative shadow/highlight maps: eye sockets, nose sides, lip and chin shadows."""
    window = _face_window(frame, app, pose)
    if window is None:
        return
    x0, x1, y0, y1 = window
    sub = _Mapper(Pose(pose.cx - x0, pose.cy - y0, pose.scale, pose.angle))
    dark = np.zeros((y1 - y0, x1 - x0), np.uint8)
    light = np.zeros_like(dark)
    ex, ey, es = app.eye_spacing, app.eye_height, app.eye_size
    brow_y = ey - 0.2 - 0.15 * expr.brow_raise
    for side in (-1, 1):
        # Deep eye socket from brow to lower lid: the band Haar looks for.
        _fill(dark, sub, _ellipse_uv(side * ex, (ey + brow_y) / 2 + 0.02, es * 1.55, 0.2), 150)
        _fill(dark, sub, _ellipse_uv(side * ex, ey, es * 1.25, 0.11), 200)
        # Nose side shadows and cheek highlight.
        _fill(dark, sub, _ellipse_uv(side * 0.13, (ey + app.nose_length) / 2 + 0.05, 0.05, 0.18), 90)
        cheek_y = app.mouth_height - 0.3 - 0.08 * expr.cheek_raise
        _fill(light, sub, _ellipse_uv(side * 0.5, cheek_y, 0.22, 0.15), 70 + int(50 * expr.cheek_raise))
    # Bright nose bridge and forehead between the sockets.
    _fill(light, sub, _ellipse_uv(0, (ey + app.nose_length) / 2 - 0.05, 0.075, 0.3), 120)
    _fill(light, sub, _ellipse_uv(0, app.hair_line + 0.18, 0.45, 0.12), 50)
    # Under-nose, under-lip and jaw shadows.
    _fill(dark, sub, _ellipse_uv(0, app.nose_length + 0.06, 0.16, 0.05), 140)
    _fill(dark, sub, _ellipse_uv(0, app.mouth_height + 0.2, 0.2, 0.06), 80)
    blur = max(3, int(pose.scale * 0.16) | 1)
    dark_f = cv2.GaussianBlur(dark, (blur, blur), 0).astype(np.float32) / 255.0
    light_f = cv2.GaussianBlur(light, (blur, blur), 0).astype(np.float32) / 255.0
    gain = (1.0 - 0.75 * dark_f) * (1.0 + 0.35 * light_f)
    region = frame[y0:y1, x0:x1].astype(np.float32) * gain[..., None]
    frame[y0:y1, x0:x1] = np.clip(region, 0, 255).astype(np.uint8)


def _draw_eyes(frame: np.ndarray, m: _Mapper, app: ChildAppearance, expr: Expression) -> None:
    ex, ey, es = app.eye_spacing, app.eye_height, app.eye_size
    open_v = 0.075 * expr.eye_open
    lid = tuple(0.35 * c for c in app.skin)
    for side in (-1, 1):
        t = np.linspace(0, np.pi, 14)
        upper = np.stack([side * ex + es * np.cos(t), ey - open_v * np.sin(t) ** 0.8], axis=1)
        lower = np.stack([side * ex - es * np.cos(t), ey + 0.8 * open_v * np.sin(t) ** 0.8], axis=1)
        lens = np.concatenate([upper, lower])
        _fill(frame, m, lens, (208, 204, 198))
        iris_r = min(es * 0.48, open_v * 1.25)
        _fill(frame, m, _ellipse_uv(side * ex, ey + 0.1 * open_v, iris_r, min(iris_r, open_v * 1.05)), app.iris)
        _fill(frame, m, _ellipse_uv(side * ex, ey + 0.1 * open_v, iris_r * 0.5, min(iris_r, open_v) * 0.5),
              (12, 10, 10))
        _line(frame, m, upper, lid, 0.045)
        if expr.eye_open > 1.2:  # white visible above the iris: upper lid crease raised
            crease = upper.copy()
            crease[:, 1] -= 0.05 * expr.eye_open
            _line(frame, m, crease, tuple(0.55 * c for c in app.skin), 0.02)


def _draw_brows(frame: np.ndarray, m: _Mapper, app: ChildAppearance, expr: Expression) -> None:
    color = tuple(0.75 * c for c in app.hair)
    base = app.eye_height - 0.22 - expr.brow_raise
    for side in (-1, 1):
        inner_x = side * (0.14 - expr.brow_squeeze)
        outer_x = side * (app.eye_spacing + 0.24)
        t = np.linspace(0, 1, 9)
        x = inner_x + (outer_x - inner_x) * t
        arch = -0.05 * np.sin(np.pi * np.clip(t * 1.1, 0, 1))
        y = base + arch - expr.brow_inner * (1 - t) ** 1.2 + 0.02 * t
        thick = app.brow_thickness * (1.1 - 0.4 * t)
        top = np.stack([x, y - thick / 2], axis=1)
        bottom = np.stack([x, y + thick / 2], axis=1)[::-1]
        _fill(frame, m, np.concatenate([top, bottom]), color)
    if expr.frown_lines > 0.3:
        shade = tuple(0.55 * c for c in app.skin)
        for side in (-1, 1):
            _line(frame, m, np.array([[side * 0.05, base - 0.04], [side * 0.07, base + 0.12]]), shade,
                  0.025 * expr.frown_lines)


def _draw_nose(frame: np.ndarray, m: _Mapper, app: ChildAppearance, expr: Expression) -> None:
    ny = app.nose_length
    shade = tuple(0.35 * c for c in app.skin)
    for side in (-1, 1):
        _fill(frame, m, _ellipse_uv(side * 0.085, ny, 0.05, 0.028, tilt=side * 0.4), shade)
    if expr.nose_wrinkle > 0.3:
        fold = tuple(0.5 * c for c in app.skin)
        for k, dy in enumerate((-0.02, 0.06, 0.14)):
            y = (app.eye_height + ny) / 2 + dy - 0.12
            half = 0.11 - 0.015 * k
            uv = np.array([[-half, y + 0.02], [0, y - 0.02], [half, y + 0.02]])
            _line(frame, m, uv, fold, 0.022 * expr.nose_wrinkle)
        for side in (-1, 1):  # deepened folds from the nose wings
            uv = np.array([[side * 0.16, ny - 0.04], [side * 0.26, ny + 0.1], [side * 0.3, ny + 0.2]])
            _line(frame, m, uv, fold, 0.025 * expr.nose_wrinkle)


def _mouth_edges(app: ChildAppearance, expr: Expression) -> tuple[np.ndarray, np.ndarray]:
    """Upper and lower edges of the mouth opening (or lip line) as N x 2 face-local points."""
    w = expr.mouth_width
    x = np.linspace(-w, w, 25)
    r = x / w
    centre = app.mouth_height - expr.mouth_curve * r * r
    bulge = np.sqrt(np.clip(1 - r * r, 0, 1))
    shape = bulge * expr.mouth_roundness + (1 - r * r) * (1 - expr.mouth_roundness)
    raise_ = expr.upper_lip_raise * 0.09 * np.clip(1 - ((x - 0.35 * w) / (0.6 * w)) ** 2, 0, 1)
    upper = np.stack([x, centre - expr.mouth_open_top * shape - raise_], axis=1)
    lower = np.stack([x, centre + expr.mouth_open_bottom * shape], axis=1)
    return upper, lower


def _draw_mouth(frame: np.ndarray, m: _Mapper, app: ChildAppearance, expr: Expression) -> None:
    upper, lower = _mouth_edges(app, expr)
    lip = tuple(app.lip)
    dark_lip = tuple(0.6 * c for c in app.lip)
    gap = float(np.max(lower[:, 1] - upper[:, 1]))
    if expr.cheek_raise > 0.3:  # smile folds from the nose wings to the raised mouth corners
        fold = tuple(0.55 * c for c in app.skin)
        for side in (-1, 1):
            cx, cy = side * (expr.mouth_width + 0.06), upper[0, 1] - 0.02
            uv = np.array([[side * 0.2, app.nose_length - 0.03], [side * 0.33, (app.nose_length + cy) / 2],
                           [cx, cy + 0.04]])
            _line(frame, m, uv, fold, 0.03 * expr.cheek_raise)
    if gap > 0.03:
        # Lips around the opening, then the dark mouth cavity, then teeth from the upper edge.
        outer = np.concatenate([upper + [0, -0.045], lower[::-1] + [0, 0.06]])
        _fill(frame, m, outer, lip)
        _fill(frame, m, np.concatenate([upper, lower[::-1]]), (40, 14, 18))
        if expr.teeth > 0.2:
            depth = min(gap * 0.55, 0.07) * expr.teeth
            teeth_bottom = upper + [0, depth]
            teeth_bottom[:, 1] = np.minimum(teeth_bottom[:, 1], lower[:, 1])
            _fill(frame, m, np.concatenate([upper, teeth_bottom[::-1]]), (236, 234, 226))
    else:
        thickness = 0.035 * (1 - 0.5 * expr.lip_press)
        centre = (upper + lower) / 2
        outer = np.concatenate([centre + [0, -thickness], centre[::-1] + [0, thickness * 1.3]])
        _fill(frame, m, outer, lip)
        _line(frame, m, centre, dark_lip, 0.02 + 0.015 * expr.lip_press)


def _draw_front_hair(frame: np.ndarray, m: _Mapper, app: ChildAppearance) -> None:
    hair = tuple(app.hair)
    top = -app.aspect - 0.12
    line = app.hair_line
    x = np.linspace(-1.02, 1.02, 21)
    if app.hair_style == 1:  # fringe: straight, lower
        edge = line + 0.06 + 0.02 * np.cos(x * 9)
    elif app.hair_style == 3:  # side parting
        edge = line + 0.1 * (x + 1) / 2 - 0.06 * np.exp(-((x + 0.35) ** 2) / 0.02)
    else:
        edge = line - 0.08 * x * x
    edge = edge + 0.35 * np.clip(np.abs(x) - 0.75, 0, None) * 4  # hair comes down at the temples
    t = np.linspace(0, np.pi, 15)
    crown = np.stack([1.05 * np.cos(t), -app.aspect * 0.55 + (top + app.aspect * 0.55) * np.sin(t)], axis=1)
    uv = np.concatenate([np.stack([x, edge], axis=1), crown])
    _fill(frame, m, uv, hair)
