"""Bad data fails before any pipeline is built, with a UserError naming the file (or the split) at fault."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

from lightning_fer.data.datamodule import FERDataModule
from lightning_fer.errors import UserError


@pytest.fixture
def data(small_prepared, tmp_path) -> Path:
    """A private copy of the small prepared set, free to break."""
    return Path(shutil.copytree(small_prepared, tmp_path / "prepared"))


def _manifest(data: Path) -> pd.DataFrame:
    return pd.read_csv(data / "manifest.csv", keep_default_na=False)


def _edit_manifest(data: Path, edit) -> None:
    frame = _manifest(data)
    edit(frame)
    frame.to_csv(data / "manifest.csv", index=False)


def _train_clip(data: Path) -> Path:
    splits = FERDataModule(data_dir=str(data)).prepare_splits()
    return Path(splits["train"][0].clip)


def _fails(data: Path, *needles: str, stage: str = "fit", **kwargs) -> str:
    with pytest.raises(UserError) as info:
        FERDataModule(data_dir=str(data), **kwargs).setup(stage)
    message = str(info.value)
    for needle in needles:
        assert needle in message, f"{needle!r} not in {message!r}"
    return message


def test_valid_data_passes(data):
    module = FERDataModule(data_dir=str(data), batch_size=8)
    module.setup("fit")
    assert {"train", "val"} <= set(module._loaders)


def test_missing_manifest(data):
    (data / "manifest.csv").unlink()
    _fails(data, str(data / "manifest.csv"))


def test_manifest_references_missing_clip(data):
    clip = data / _manifest(data)["clip"][3]
    clip.unlink()
    _fails(data, str(clip), "does not exist")


def test_zero_byte_clip(data):
    clip = data / _manifest(data)["clip"][5]
    clip.write_bytes(b"")
    _fails(data, str(clip), "0 bytes")


def test_clip_that_does_not_decode(data):
    clip = _train_clip(data)
    clip.write_bytes(bytes(range(256)) * 64)
    _fails(data, str(clip), "does not decode")


def test_label_outside_class_list(data):
    def edit(frame: pd.DataFrame) -> None:
        frame.loc[2, "label"] = "bored"

    _edit_manifest(data, edit)
    video = _manifest(data)["video_id"][2]
    _fails(data, str(data / "manifest.csv"), "'bored'", video)


def test_label_index_inconsistent_with_label(data):
    def edit(frame: pd.DataFrame) -> None:
        frame.loc[0, "label_index"] = (frame.loc[0, "label_index"] + 1) % 6

    _edit_manifest(data, edit)
    _fails(data, str(data / "manifest.csv"), "label_index")


@pytest.mark.parametrize("column", ["clip", "label_index", "frames"])
def test_missing_columns(data, column):
    _edit_manifest(data, lambda frame: frame.drop(columns=[column], inplace=True))
    _fails(data, str(data / "manifest.csv"), column)


def test_empty_val_split(data):
    _fails(data, "val split is empty", "subject", val_fraction=0.0)


def test_empty_test_split_only_matters_for_test(data):
    FERDataModule(data_dir=str(data), test_fraction=0.0, batch_size=8).setup("fit")
    _fails(data, "test split is empty", stage="test", test_fraction=0.0)
