"""The parameters of the face-crop pass, and the short hash that names them.

Every clip records the ``params_id`` it was made with, so that a rerun with the same parameters
skips finished clips and a rerun with other parameters redoes them.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any, Literal, get_args

NoFacePolicy = Literal["drop", "reuse"]
FacesMode = Literal["detect", "cropped"]


@dataclass(frozen=True)
class PrepareParams:
    """Detection, tracking and output settings (all of them go into ``params_id``)."""

    cascade: str = "haarcascade_frontalface_default.xml"  # file in cv2.data.haarcascades, or a path
    scale_factor: float = 1.1  # Haar image-pyramid step
    min_neighbors: int = 5  # Haar: overlapping hits needed to keep a face
    min_size: int = 40  # smallest face side, in source-frame pixels
    detect_max_side: int = 320  # detect on a frame downscaled to this longest side (0: full resolution)
    detect_every: int = 5  # run Haar on every k-th frame, interpolate boxes in between (1: every frame)
    redetect_every: int = 30  # search the whole frame at least every k frames (else only near the tracked face)
    track_pad: float = 0.3  # tracked search: region around the last box, its side times this on each side
    track_span: int = 2  # tracked search: face sizes within scale_factor ** span of the last box
    track_face_px: int = 64  # tracked search: region downscaled so that the face is about this wide
    smooth_window: int = 5  # centered moving average of boxes over this many frames (1: off)
    margin: float = 0.2  # added around the face box on each side, as a fraction of its side
    no_face: NoFacePolicy = "reuse"  # frames without a face: drop them, or reuse the last box ...
    reuse_max: int = 5  # ... for at most this many frames
    clip_size: int = 128  # clip side in pixels: >= 128 lets NVDEC decode it; the model sees its centre input_size
    input_size: int = 112  # the model's input side: the face box (with margin) fills this centre of the clip
    max_frames: int = 0  # decode at most this many frames per source (0: all)
    max_pixels: int = 40_000_000  # frames larger than this are reported, not processed
    gop: int = 12  # keyframe interval of the VP9 clips (DALI seeks cheaply)
    faces: FacesMode = "detect"  # detect: Haar finds the face; cropped: each image/frame already is the face

    def __post_init__(self) -> None:
        checks = {
            "scale_factor must be > 1": self.scale_factor > 1,
            "min_neighbors must be >= 0": self.min_neighbors >= 0,
            "min_size must be >= 1": self.min_size >= 1,
            "detect_max_side must be 0 or >= 32": self.detect_max_side == 0 or self.detect_max_side >= 32,
            "detect_every must be >= 1": self.detect_every >= 1,
            "redetect_every must be >= 1": self.redetect_every >= 1,
            "track_pad must be in [0, 2]": 0 <= self.track_pad <= 2,
            "track_span must be >= 1": self.track_span >= 1,
            "track_face_px must be >= 24": self.track_face_px >= 24,
            "smooth_window must be >= 1": self.smooth_window >= 1,
            "margin must be in [0, 2]": 0 <= self.margin <= 2,
            "no_face must be 'drop' or 'reuse'": self.no_face in get_args(NoFacePolicy),
            "reuse_max must be >= 0": self.reuse_max >= 0,
            "input_size must be even and >= 16": self.input_size >= 16 and self.input_size % 2 == 0,
            f"clip_size must be even and >= input_size ({self.input_size})":
                self.clip_size >= self.input_size and self.clip_size % 2 == 0,
            "max_frames must be >= 0": self.max_frames >= 0,
            "gop must be >= 1": self.gop >= 1,
            "faces must be 'detect' or 'cropped'": self.faces in get_args(FacesMode),
        }
        failed = [message for message, ok in checks.items() if not ok]
        if failed:
            raise ValueError("bad prepare parameters: " + "; ".join(failed))

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> PrepareParams:
        """Parameters as recorded (prepare.json, checkpoints); unknown keys are ignored. Records written before
        the clip size and model input were separate hold one ``size``: both were that size then."""
        values = dict(values)
        if "size" in values and "clip_size" not in values:
            values["clip_size"] = values["input_size"] = values["size"]
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known})

    @property
    def context(self) -> float:
        """How much wider than the face square (with margin) a clip's frame is: the centre ``input_size`` holds
        the face as a clip of side ``input_size`` would, the rest is room for a random crop."""
        return self.clip_size / self.input_size

    @property
    def params_id(self) -> str:
        """Short stable hash of all parameters."""
        blob = json.dumps(self.to_dict(), sort_keys=True).encode()
        return hashlib.sha1(blob).hexdigest()[:10]
