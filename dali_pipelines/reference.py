"""NumPy/OpenCV reference of the paper's preprocessing, the twin of the DALI pipelines.

Inference (`fer predict`), the baseline loader and the parity tests use it, so that training
(DALI) and inference see the same pixels: grayscale by the paper's equation 1
(Y = 0.2989 R + 0.5870 G + 0.1141 B, rounded to uint8), histogram equalization, normalization.
``augment`` draws the DALI pipeline's train-time augmentations from the same ranges (same
distribution, not the same random numbers).
"""

from __future__ import annotations

import cv2
import numpy as np

from dali_pipelines.spec import Augmentation, Normalization

GRAY_WEIGHTS = (0.2989, 0.5870, 0.1141)  # the paper's equation 1 (R, G, B)
CONTRAST_CENTER = 128.0  # uint8 mid-gray: contrast scales around it (passed to DALI's brightness_contrast too)


def to_gray(rgb: np.ndarray) -> np.ndarray:
    """Equation 1 on uint8 RGB (... x H x W x 3) -> uint8 gray (... x H x W), rounded half up."""
    # The same float32 products and sums in the same order as the DALI graph (grayscale_eq1): a BLAS matmul
    # rounds differently on ~0.03% of pixels, and equalization can widen that 1 level to several.
    wr, wg, wb = (np.float32(w) for w in GRAY_WEIGHTS)
    rgb = rgb.astype(np.float32)
    gray = rgb[..., 0] * wr + rgb[..., 1] * wg + rgb[..., 2] * wb
    return np.clip(np.floor(gray + np.float32(0.5)), 0, 255).astype(np.uint8)


def equalize(gray: np.ndarray) -> np.ndarray:
    """Histogram equalization per image (OpenCV's, which DALI's ``fn.equalize`` also implements)."""
    if gray.ndim == 2:
        return cv2.equalizeHist(gray)
    return np.stack([cv2.equalizeHist(g) for g in gray.reshape(-1, *gray.shape[-2:])]).reshape(gray.shape)


def normalize(equalized: np.ndarray, norm: Normalization) -> np.ndarray:
    """uint8 equalized gray (... x H x W) -> float32 by the chosen mode (per image for standardize)."""
    x = equalized.astype(np.float32)
    if norm.mode == "unit":
        return x * np.float32(1 / 255)
    if norm.mode == "dataset":
        return (x * np.float32(1 / 255) - np.float32(norm.mean)) / np.float32(norm.std)
    axes = (-2, -1)
    mean = x.mean(axis=axes, keepdims=True)
    std = x.std(axis=axes, keepdims=True)
    return (x - mean) / np.sqrt(std * std + np.float32(norm.eps))


def crop_offsets(clip_size: int, input_size: int, rng: np.random.Generator | None = None) -> tuple[int, int]:
    """(top, left) of the ``input_size`` window in a ``clip_size`` frame: the centre, or uniform over every
    position with ``rng`` (the DALI graph draws its crop position from the same range, one per sequence)."""
    room = clip_size - input_size
    if room < 0:
        raise ValueError(f"a {clip_size}-pixel clip cannot hold the {input_size}-pixel model input")
    if rng is None:
        return room // 2, room // 2
    return int(rng.integers(0, room + 1)), int(rng.integers(0, room + 1))


def center_crop(frames: np.ndarray, size: int, offsets: tuple[int, int] | None = None,
                channels: bool = True) -> np.ndarray:
    """The ``size`` x ``size`` window (the centre, or at ``offsets``) of square frames, ... x H x W x C
    (``channels``) or ... x H x W; frames of that size already are returned as they are."""
    height, width = frames.shape[-3:-1] if channels else frames.shape[-2:]
    if height != width:
        raise ValueError(f"face clips are square; got {width}x{height} frames")
    if height == size:
        return frames
    top, left = offsets if offsets is not None else crop_offsets(height, size)
    window = (slice(top, top + size), slice(left, left + size))
    return np.ascontiguousarray(frames[(..., *window, slice(None))] if channels else frames[(..., *window)])


def preprocess(rgb: np.ndarray, norm: Normalization | None = None) -> np.ndarray:
    """RGB uint8 frames (N x H x W x 3 or H x W x 3) -> float32 N x 1 x H x W (or 1 x H x W) model input."""
    out = normalize(equalize(to_gray(rgb)), norm or Normalization())
    return out[..., None, :, :]


def augment(rgb: np.ndarray, aug: Augmentation, rng: np.random.Generator) -> np.ndarray:
    """Flip / rotate+zoom about the frame's centre / brightness+contrast on uint8 frames (F x H x W x C), one
    draw for the whole run, in the order and ranges of :func:`dali_pipelines.pipelines.augment`."""
    if not aug.enabled:
        return rgb
    out = rgb
    if aug.flip and rng.random() < 0.5:
        out = out[:, :, ::-1]
    if aug.warps:
        angle = rng.uniform(-aug.rotate_degrees, aug.rotate_degrees)
        zoom = rng.uniform(1.0 - aug.scale, 1.0 + aug.scale)
        height, width = out.shape[1:3]
        matrix = cv2.getRotationMatrix2D(((width - 1) / 2, (height - 1) / 2), angle, zoom)  # OpenCV: centres at 0
        out = np.stack([cv2.warpAffine(np.ascontiguousarray(f), matrix, (width, height), flags=cv2.INTER_LINEAR,
                                       borderMode=cv2.BORDER_CONSTANT, borderValue=0).reshape(f.shape) for f in out])
    if aug.recolors:
        brightness = rng.uniform(1.0 - aug.brightness, 1.0 + aug.brightness)
        contrast = rng.uniform(1.0 - aug.contrast, 1.0 + aug.contrast)
        x = brightness * (CONTRAST_CENTER + contrast * (out.astype(np.float32) - CONTRAST_CENTER))
        out = np.clip(np.rint(x), 0, 255).astype(np.uint8)
    return np.ascontiguousarray(out)
