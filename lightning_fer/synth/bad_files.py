"""Deliberately broken files for exercising `fer prepare`'s error reporting.

Each has a name that parses as ``S<child>_<emotion>_<n>.mp4`` (child 99) so it is not skipped
by name, and a defect that the data pass must report rather than silently drop. They are listed
with their defects in ``OUT/bad_files.json``.
"""

from __future__ import annotations

import json
from pathlib import Path

from lightning_fer.atomic_write import write_bytes, write_text
from lightning_fer.synth.clip import iter_empty_clip
from lightning_fer.video_io import write_video

BAD_CHILD = 99
ZERO_BYTES = f"S{BAD_CHILD}_happy_1.mp4"
TRUNCATED = f"S{BAD_CHILD}_sad_2.mp4"
TEXT = f"S{BAD_CHILD}_fear_3.mp4"
NO_FACE = f"S{BAD_CHILD}_angry_4.mp4"
TRUNCATE_FRACTION = 0.3


def write_bad_files(out: Path, source_video: Path, n_frames: int, fps: int, width: int, height: int,
                    seed: int) -> list[dict]:
    """Write the four bad files into ``out/videos`` and ``out/bad_files.json``; returns the listing."""
    videos = out / "videos"
    write_bytes(videos / ZERO_BYTES, b"")
    data = source_video.read_bytes()
    write_bytes(videos / TRUNCATED, data[: int(len(data) * TRUNCATE_FRACTION)])
    write_bytes(videos / TEXT, b"This is not a video: a text file that only has a video's name.\n")
    write_video(videos / NO_FACE, iter_empty_clip(seed, n_frames, width, height), fps=fps, codec="libx264")
    listing = [
        {"file": f"videos/{ZERO_BYTES}", "defect": "zero_bytes", "detail": "empty file (0 bytes)"},
        {"file": f"videos/{TRUNCATED}", "defect": "truncated",
         "detail": f"first {TRUNCATE_FRACTION:.0%} of the bytes of {source_video.name}"},
        {"file": f"videos/{TEXT}", "defect": "not_a_video", "detail": "plain text with an .mp4 name"},
        {"file": f"videos/{NO_FACE}", "defect": "no_face",
         "detail": f"valid {n_frames}-frame video of background and noise only"},
    ]
    write_text(out / "bad_files.json", json.dumps(listing, indent=2) + "\n")
    return listing


def remove_bad_files(out: Path) -> None:
    """Remove bad files a previous run with ``--with-bad-files`` left in `out`."""
    for name in (ZERO_BYTES, TRUNCATED, TEXT, NO_FACE):
        (out / "videos" / name).unlink(missing_ok=True)
    (out / "bad_files.json").unlink(missing_ok=True)
