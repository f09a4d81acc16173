"""What `fer predict --input` may name: a video, an image, a folder of them, or a camera index.

Each becomes a :class:`Source` that yields RGB uint8 frames with a known (or estimated) frame rate,
so the predict loop treats a file and a webcam alike.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import islice
from pathlib import Path

import numpy as np

from lightning_fer.errors import UserError
from lightning_fer.video_io import (
    IMAGE_SUFFIXES,
    VIDEO_SUFFIXES,
    DecodedFrame,
    VideoReadError,
    iter_decoded,
    iter_frames,
    video_info,
)


@dataclass(frozen=True)
class Source:
    """One input stream: a file path, or a camera index when ``camera`` is set."""

    name: str  # output file stem
    path: Path | None = None
    camera: int | None = None

    @property
    def is_image(self) -> bool:
        return self.path is not None and self.path.suffix.lower() in IMAGE_SUFFIXES

    def describe(self) -> str:
        return f"camera {self.camera}" if self.camera is not None else str(self.path)

    def fps_and_total(self) -> tuple[float, int | None]:
        """Frame rate and frame count (None when unknown, as for a camera); UserError if unreadable."""
        if self.camera is not None:
            return 30.0, None
        if self.is_image:
            return 1.0, 1
        try:
            info = video_info(self.path)
        except VideoReadError as err:
            raise UserError(str(err)) from err
        return info.fps, info.frames

    def frames(self, max_frames: int = 0, decoded: bool = False) -> Iterator[np.ndarray | DecodedFrame]:
        """RGB frames (``decoded``: a file's frames as DecodedFrame, RGB on demand); decode errors -> UserError."""
        if self.camera is not None:
            stream = _camera_frames(self.camera)
        else:
            stream = iter_decoded(self.path) if decoded else iter_frames(self.path)
        try:
            yield from (islice(stream, max_frames) if max_frames else stream)
        except VideoReadError as err:
            raise UserError(str(err)) from err


def resolve_sources(spec: str) -> list[Source]:
    """``--input`` -> sources: a digit string that is no existing path is a camera index."""
    path = Path(spec)
    if spec.isdigit() and not path.exists():
        return [Source(name=f"camera{spec}", camera=int(spec))]
    if path.is_dir():
        known = IMAGE_SUFFIXES | VIDEO_SUFFIXES
        files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in known)
        if not files:
            raise UserError(f"{path}: no videos or images ({', '.join(sorted(VIDEO_SUFFIXES | IMAGE_SUFFIXES))})")
        return [Source(name=name, path=p) for p, name in zip(files, output_names(files, path), strict=True)]
    if not path.is_file():
        raise UserError(f"{path}: no such file, folder or camera index")
    if path.suffix.lower() not in IMAGE_SUFFIXES | VIDEO_SUFFIXES:
        raise UserError(f"{path}: not a video or image by its extension")
    return [Source(name=path.stem, path=path)]


def output_names(files: list[Path], root: Path) -> list[str]:
    """Output stems for files in a folder, by the crop pass's clip-name rule (prepare/names.py): the relative
    path, so that a/x.mp4 and b/x.mp4 differ, made safe and unique; a/x.mp4 beside a/x.jpg keeps its suffix."""
    from lightning_fer.prepare.names import clip_names

    relatives = [p.relative_to(root) for p in files]
    stems = [r.with_suffix("").as_posix() for r in relatives]
    count = Counter(stems)
    keys = [stem if count[stem] == 1 else r.as_posix() for stem, r in zip(stems, relatives, strict=True)]
    if len(set(keys)) < len(keys):  # only a name like x.mp4.avi beside x.mp4 and x.jpg gets here
        raise UserError(f"{root}: files whose names differ only by their suffixes collide; rename one")
    names = clip_names(keys)
    return [names[key] for key in keys]


def _camera_frames(index: int) -> Iterator[np.ndarray]:
    """Frames from cv2.VideoCapture(index) until it stops (the predict loop ends a live run on Ctrl-C)."""
    import cv2

    capture = cv2.VideoCapture(index)
    if not capture.isOpened():
        raise UserError(f"camera {index}: cannot open")
    try:
        while True:
            ok, bgr = capture.read()
            if not ok:
                return
            yield cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    finally:
        capture.release()
