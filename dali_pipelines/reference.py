"""NumPy/OpenCV reference of the paper's preprocessing, the twin of the DALI pipelines.

Inference (`fer predict`), the baseline loader and the parity tests use it, so that training
(DALI) and inference see the same pixels: grayscale by the paper's equation 1
(Y = 0.2989 R + 0.5870 G + 0.1141 B, rounded to uint8), histogram equalization, normalization.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np

GRAY_WEIGHTS = (0.2989, 0.5870, 0.1141)  # the paper's equation 1 (R, G, B)
NormalizeMode = Literal["unit", "standardize", "dataset"]


@dataclass(frozen=True)
class Normalization:
    """How equalized gray levels become floats.

    ``unit``: x / 255. ``standardize``: per-image (x - mean) / std. ``dataset``: (x/255 - mean) / std
    with the dataset statistics that the crop pass writes beside the manifest.
    """

    mode: NormalizeMode = "unit"
    mean: float = 0.5
    std: float = 0.25
    eps: float = 1e-6

    def __post_init__(self) -> None:
        if self.mode not in ("unit", "standardize", "dataset"):
            raise ValueError(f"normalization mode {self.mode!r}: expected unit, standardize or dataset")
        if self.std <= 0:
            raise ValueError(f"normalization std must be positive, got {self.std}")


def to_gray(rgb: np.ndarray) -> np.ndarray:
    """Equation 1 on uint8 RGB (... x H x W x 3) -> uint8 gray (... x H x W), rounded half up."""
    weights = np.asarray(GRAY_WEIGHTS, dtype=np.float32)
    gray = rgb.astype(np.float32) @ weights
    return np.clip(np.floor(gray + 0.5), 0, 255).astype(np.uint8)


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


def preprocess(rgb: np.ndarray, norm: Normalization | None = None) -> np.ndarray:
    """RGB uint8 frames (N x H x W x 3 or H x W x 3) -> float32 N x 1 x H x W (or 1 x H x W) model input."""
    out = normalize(equalize(to_gray(rgb)), norm or Normalization())
    return out[..., None, :, :]
