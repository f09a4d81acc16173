"""Checks that run before any pipeline is built, so bad data fails with a message naming the file
instead of a hang or a crash deep inside DALI."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from lightning_fer.classes import CLASSES
from lightning_fer.data.splits import STAGES, ClipRange
from lightning_fer.errors import UserError


def check_manifest_rows(manifest: pd.DataFrame, manifest_path: Path, clip_root: Path) -> None:
    """Every label known and consistent with its index, every clip present and non-empty."""
    for row in manifest.itertuples():
        where = f"{manifest_path} (video_id {row.video_id})"
        if row.label not in CLASSES:
            raise UserError(f"{where}: label {row.label!r} is not one of {', '.join(CLASSES)}")
        if int(row.label_index) != CLASSES.index(row.label):
            raise UserError(f"{where}: label_index {row.label_index} does not match label {row.label!r}")
        clip = clip_root / row.clip
        if not clip.is_file():
            raise UserError(f"{where}: clip {clip} does not exist")
        if clip.stat().st_size == 0:
            raise UserError(f"{where}: clip {clip} is empty (0 bytes)")
        if int(row.frames) < 1:
            raise UserError(f"{where}: clip {clip} has no frames")


def check_clips_decode(ranges: list[ClipRange], clip_size: int, source: str = "prepare.json") -> None:
    """Open each distinct clip and decode its first frame with PyAV (milliseconds per clip): it must decode and
    be ``clip_size`` square, as ``source`` records (one reader batch cannot mix sizes)."""
    import av

    for clip in sorted({r.clip for r in ranges}):
        try:
            with av.open(clip) as container:
                frame = next(container.decode(video=0))
        except (av.FFmpegError, StopIteration, OSError, IndexError) as err:
            raise UserError(f"clip {clip} does not decode: {err or 'no frames'}") from err
        if (frame.width, frame.height) != (clip_size, clip_size):
            raise UserError(f"clip {clip} is {frame.width}x{frame.height}, but {source} says the clips are "
                            f"{clip_size}x{clip_size}: clips of one folder must all be that size; prepare the folder "
                            f"again (fer prepare ROOT OUT --clip-size {clip_size})")


def check_clip_geometry(clip_size: int, input_size: int, model_input: int, source: str) -> None:
    """Clips must hold the model's input: refuse a folder whose record says otherwise, in one line."""
    if input_size != model_input:
        raise UserError(f"{source}: input_size {input_size}, but the model takes {model_input}x{model_input} faces")
    if clip_size < input_size or clip_size % 2:
        raise UserError(f"{source}: clip_size {clip_size} must be even and at least the model input {input_size}")


def check_splits(splits: dict[str, list[ClipRange]], protocol: str, needed: tuple[str, ...] = STAGES) -> None:
    for stage in needed:
        if not splits.get(stage):
            raise UserError(f"the {stage} split is empty under protocol {protocol!r}: add data, or change "
                            f"data.val_fraction / data.test_fraction / data.num_folds")
