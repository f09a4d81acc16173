"""Reading and writing video files with PyAV.

Face clips are VP9 in MP4 with a short keyframe interval: DALI 2.4's CPU video reader decodes VP9
(not H.264), and a short GOP keeps DALI's seeks cheap (docs/DESIGN_NOTES.md, platform facts). NVDEC
decodes VP9 only from 128 x 128 up, which is why the crop pass writes 128 x 128 clips. Writers go to a
temporary name and are renamed only when complete, so a killed process never leaves a clip that looks finished.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from types import TracebackType

import av
import numpy as np

from lightning_fer.atomic_write import partial_path

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp"})
VIDEO_SUFFIXES = frozenset({".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv"})


class VideoReadError(RuntimeError):
    """A video or image that cannot be read; the message names the file and the reason."""


@dataclass(frozen=True)
class VideoInfo:
    fps: float
    frames: int
    width: int
    height: int


def video_info(path: str | Path) -> VideoInfo:
    """Container-level facts of a video (frame count decoded when the container does not state it)."""
    path = Path(path)
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise VideoReadError(f"{path}: no video stream")
            stream = container.streams.video[0]
            fps = float(stream.average_rate or stream.guessed_rate or 25)
            frames = stream.frames or sum(1 for _ in container.decode(stream))
            return VideoInfo(fps=fps, frames=int(frames), width=stream.width, height=stream.height)
    except (av.FFmpegError, OSError) as err:
        raise VideoReadError(f"{path}: cannot read video ({err})") from err


def iter_frames(path: str | Path) -> Iterator[np.ndarray]:
    """Yield RGB uint8 frames (H x W x 3) of a video, or the single frame of an image file."""
    for frame in iter_decoded(path):
        yield frame.rgb()


def iter_decoded(path: str | Path) -> Iterator[DecodedFrame]:
    """Yield the frames of a video (or the one frame of an image) as :class:`DecodedFrame`: RGB only on demand."""
    path = Path(path)
    if path.suffix.lower() in IMAGE_SUFFIXES:
        yield DecodedFrame(rgb=read_image(path))
        return
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise VideoReadError(f"{path}: no video stream")
            stream = container.streams.video[0]
            stream.thread_type = "SLICE"  # frame threads cost more CPU time per frame than they save here
            for frame in container.decode(stream):
                yield DecodedFrame.of(frame)
    except (av.FFmpegError, OSError) as err:
        raise VideoReadError(f"{path}: cannot decode video ({err})") from err


class DecodedFrame:
    """One decoded frame, kept as the decoder's yuv420p planes where possible.

    Face detection needs only luma and a crop needs only a face-sized region, so converting whole
    frames to RGB (the costliest step after Haar) is done only when a caller asks for :meth:`rgb`.
    """

    def __init__(self, rgb: np.ndarray | None = None, planes: np.ndarray | None = None,
                 size: tuple[int, int] = (0, 0)) -> None:
        self._rgb, self.planes = rgb, planes
        self.height, self.width = rgb.shape[:2] if rgb is not None else size

    @classmethod
    def of(cls, frame: av.VideoFrame) -> DecodedFrame:
        if frame.format.name != "yuv420p" or frame.width % 2 or frame.height % 2:
            return cls(rgb=frame.to_ndarray(format="rgb24"))
        return cls(planes=frame.to_ndarray(format="yuv420p"), size=(frame.height, frame.width))

    @property
    def shape(self) -> tuple[int, int, int]:
        return self.height, self.width, 3

    def rgb(self) -> np.ndarray:
        """The whole frame as RGB uint8, converted as :func:`frame_to_rgb` does (cached)."""
        if self._rgb is None:
            self._rgb = yuv420_to_rgb(self.planes, self.height, self.width)
        return self._rgb

    def gray(self) -> np.ndarray:
        """Gray uint8 (0.299 R + 0.587 G + 0.114 B of :meth:`rgb`): for yuv420p, luma stretched to full range.

        The two agree exactly but where the RGB conversion clips a saturated color (a level or two there).
        """
        import cv2

        if self.planes is None:
            return cv2.cvtColor(self._rgb, cv2.COLOR_RGB2GRAY)
        return cv2.LUT(self.planes[: self.height], _LUMA_TO_GRAY)

    def chroma(self) -> tuple[np.ndarray, np.ndarray]:
        """The U and V planes (H/2 x W/2) of a yuv420p frame."""
        h, w = self.height, self.width
        chroma = self.planes[h:].reshape(2, h // 2, w // 2)
        return chroma[0], chroma[1]


def frame_to_rgb(frame: av.VideoFrame) -> np.ndarray:
    """RGB uint8 of a decoded frame, converted the way DALI's video decoder converts it.

    For limited-range yuv420p (VP9/H.264 as usually encoded) that is BT.601 with bilinear chroma
    upsampling, which matches DALI within one level; PyAV's ``rgb24`` (swscale's fast path) is ~1.3
    levels darker, a gap that histogram equalization widens to several levels. Training (DALI) and
    inference (this) must see the same pixels, so other formats fall back to ``rgb24`` only.
    """
    return DecodedFrame.of(frame).rgb()


def yuv420_to_rgb(planes: np.ndarray, height: int, width: int) -> np.ndarray:
    """BT.601 limited range, bilinear chroma: (H * 3/2) x W yuv420p planes -> H x W x 3 uint8."""
    import cv2

    chroma = planes[height:].reshape(2, height // 2, width // 2).astype(np.float32)
    u, v = (cv2.resize(c, (width, height), interpolation=cv2.INTER_LINEAR) for c in chroma)
    return yuv_to_rgb(planes[:height].astype(np.float32), u, v)


def yuv_to_rgb(y: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """BT.601 limited range Y, U, V planes of one size (float32) -> H x W x 3 uint8 RGB."""
    u, v = u - 128.0, v - 128.0
    luma = (y - 16.0) * (255.0 / 219.0)
    rgb = np.stack([luma + 1.596027 * v, luma - 0.391762 * u - 0.812968 * v, luma + 2.017232 * u], axis=-1)
    return np.clip(np.floor(rgb + 0.5), 0, 255).astype(np.uint8)


_LUMA_TO_GRAY = np.clip(np.floor((np.arange(256) - 16.0) * (255.0 / 219.0) + 0.5), 0, 255).astype(np.uint8)


def read_frames(path: str | Path) -> np.ndarray:
    """All frames of a video as one N x H x W x 3 uint8 array."""
    frames = list(iter_frames(path))
    if not frames:
        raise VideoReadError(f"{path}: no frames decoded")
    return np.stack(frames)


def read_image(path: str | Path) -> np.ndarray:
    """An image file as RGB uint8 (H x W x 3)."""
    import cv2

    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise VideoReadError(f"{path}: cannot decode image")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


class VideoWriter:
    """Write RGB frames to a video file atomically (temporary name, renamed on a clean close).

    ``codec="libvpx-vp9"`` with ``gop`` 12 is the face-clip format; ``libx264`` suits source videos.
    """

    def __init__(self, path: str | Path, fps: float = 25.0, codec: str = "libvpx-vp9", gop: int = 12,
                 crf: int = 20) -> None:
        self.path = Path(path)
        self.tmp_path = partial_path(self.path)
        self.fps = fps
        self.codec = codec
        self.gop = gop
        self.crf = crf
        self._container: av.container.OutputContainer | None = None
        self._stream = None
        self.frames_written = 0

    def __enter__(self) -> VideoWriter:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._container = av.open(str(self.tmp_path), mode="w", format=_format_for(self.path))
        return self

    def _open_stream(self, width: int, height: int) -> None:
        assert self._container is not None
        rate = Fraction(self.fps).limit_denominator(1001)
        stream = self._container.add_stream(self.codec, rate=rate)
        stream.width, stream.height = width, height
        stream.pix_fmt = "yuv420p"
        stream.codec_context.gop_size = self.gop
        options = {"crf": str(self.crf)}
        if self.codec == "libvpx-vp9":
            # Realtime/cpu-used 8 is ~10x faster than the default and plenty for 128 x 128 clips.
            # One encoder thread: the crop pass runs a process per core, and a 128 x 128 frame is too small
            # for libvpx's threads to pay for themselves (they cost CPU time; cpu-used 8 is FFmpeg's fastest).
            options.update({"deadline": "realtime", "cpu-used": "8", "b:v": "0", "row-mt": "0",
                            "keyint_min": str(self.gop)})
            stream.codec_context.thread_count = 1
        elif self.codec == "libx264":
            options.update({"preset": "veryfast"})
        stream.options = options
        self._stream = stream

    def write(self, frame_rgb: np.ndarray) -> None:
        """Append one RGB uint8 frame (H x W x 3, even sides for yuv420p)."""
        self._encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(frame_rgb), format="rgb24"))

    def write_yuv420(self, planes: np.ndarray) -> None:
        """Append one frame given as yuv420p planes ((H * 3/2) x W uint8, BT.601 limited range): no conversion."""
        self._encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(planes), format="yuv420p"))

    def _encode(self, frame: av.VideoFrame) -> None:
        if self._stream is None:
            self._open_stream(frame.width, frame.height)
        for packet in self._stream.encode(frame):
            self._container.mux(packet)
        self.frames_written += 1

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        try:
            if exc_type is None and self._stream is not None:
                for packet in self._stream.encode(None):
                    self._container.mux(packet)
        finally:
            if self._container is not None:
                self._container.close()
        if exc_type is None and self.frames_written > 0:
            os.replace(self.tmp_path, self.path)
        else:
            self.tmp_path.unlink(missing_ok=True)


def write_video(path: str | Path, frames: np.ndarray | list[np.ndarray], fps: float = 25.0,
                codec: str = "libvpx-vp9", gop: int = 12) -> int:
    """Write a whole sequence of RGB frames; returns the number of frames written."""
    with VideoWriter(path, fps=fps, codec=codec, gop=gop) as writer:
        for frame in frames:
            writer.write(frame)
    return writer.frames_written


def _format_for(path: Path) -> str | None:
    return {".mp4": "mp4", ".m4v": "mp4", ".mkv": "matroska", ".webm": "webm", ".avi": "avi",
            ".mov": "mov"}.get(path.suffix.lower())
