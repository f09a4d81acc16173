"""The settings of the preprocessing and loading, free of DALI imports.

The DALI pipelines, the NumPy/OpenCV reference, the baseline loader (machines without DALI), the data
module and `fer predict` all take these types, so importing them must not need ``nvidia.dali``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

NormalizeMode = Literal["unit", "standardize", "dataset"]
NVDEC_MIN_SIDE = 128  # NVDEC's smallest VP9 frame (cuvidGetDecoderCaps); DALI's GPU reader refuses smaller video
MODEL_INPUT_SIDE = 112  # the paper's 1 x 112 x 112 input


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


@dataclass(frozen=True)
class FrameSampling:
    """Which frames of a clip become samples: runs of ``sequence_length`` frames ``stride`` apart,
    a new run every ``step`` frames. (1, 1, 1) visits every frame exactly once."""

    sequence_length: int = 1
    stride: int = 1
    step: int = 1

    def __post_init__(self) -> None:
        if min(self.sequence_length, self.stride, self.step) < 1:
            raise ValueError(f"frame sampling values must be >= 1, got {self}")


@dataclass(frozen=True)
class Augmentation:
    """Train-time augmentation; all off by default, as in the paper. One draw per run of frames:

    ``flip``: horizontal flip with probability 0.5; ``rotate_degrees``: angle ~ U(-r, r) about the frame's
    centre; ``scale``: zoom ~ U(1 - s, 1 + s) about the centre (outside filled with black);
    ``brightness`` / ``contrast``: factors ~ U(1 - b, 1 + b) / U(1 - c, 1 + c), contrast around mid-gray;
    ``random_crop``: the model's window at a random position of a clip larger than it (every position equally
    likely), instead of its centre. The crop follows the other augmentations, so rotation and zoom draw on the
    clip's border instead of black.
    """

    flip: bool = False
    rotate_degrees: float = 0.0
    scale: float = 0.0
    brightness: float = 0.0
    contrast: float = 0.0
    random_crop: bool = False

    def __post_init__(self) -> None:
        if min(self.rotate_degrees, self.scale, self.brightness, self.contrast) < 0:
            raise ValueError(f"augmentation ranges must be >= 0, got {self}")
        if self.scale >= 1:
            raise ValueError(f"augmentation scale must be < 1 (zoom 1 +- scale), got {self.scale}")

    @property
    def enabled(self) -> bool:
        return self.flip or self.warps or self.recolors

    @property
    def warps(self) -> bool:
        """Whether a rotation or zoom is drawn."""
        return self.rotate_degrees > 0 or self.scale > 0

    @property
    def recolors(self) -> bool:
        """Whether brightness or contrast factors are drawn."""
        return self.brightness > 0 or self.contrast > 0


@dataclass(frozen=True)
class PipelineSpec:
    """Everything one pipeline needs; built by the data module from its config and the trainer's ranks."""

    entries: Sequence[tuple[str, int, int, int]]  # (clip path, label, first frame, end frame exclusive)
    file_list: str  # where the reader's "file label start end" list is written
    batch_size: int  # sequences per batch; frames per batch = batch_size * sampling.sequence_length
    sampling: FrameSampling = FrameSampling()
    normalization: Normalization = Normalization()
    augmentation: Augmentation = field(default_factory=Augmentation)
    shuffle: bool = False
    seed: int = 0
    shard_id: int = 0
    num_shards: int = 1
    clip_size: int = MODEL_INPUT_SIDE  # side of the clips' frames (prepare.json); larger ones are cropped ...
    input_size: int = MODEL_INPUT_SIDE  # ... to this: the centre, or a random window with augmentation.random_crop
    device_id: int | None = None  # None -> CPU operators only
    nvdec: bool = False  # with a device: NVDEC decodes clips of NVDEC_MIN_SIDE and up (else the CPU decodes)
    num_threads: int = 2
    prefetch_queue_depth: int = 2

    def __post_init__(self) -> None:
        if self.clip_size < self.input_size:
            raise ValueError(f"{self.clip_size}-pixel clips cannot hold the {self.input_size}-pixel model input")

    @property
    def decodes_on_gpu(self) -> bool:
        """NVDEC decodes the clips when there is a device and they are at least its smallest frame."""
        return self.nvdec and self.device_id is not None and self.clip_size >= NVDEC_MIN_SIDE
