"""The checkpoint record is built from what the data module read once per fit, not from a second read."""

from __future__ import annotations

from pathlib import Path

import pytest


def test_prepare_json_is_read_once_and_the_record_carries_the_loaders_normalization(
        small_prepared: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import lightning_fer.checkpoint_record as record
    from lightning_fer.data.datamodule import FERDataModule

    reads: list[str] = []
    real = record.read_prepare_info
    monkeypatch.setattr(record, "read_prepare_info", lambda data_dir: reads.append(str(data_dir)) or real(data_dir))
    datamodule = FERDataModule(data_dir=str(small_prepared), normalization="dataset")
    normalization = datamodule.normalization()
    assert datamodule.normalization() is normalization  # every loader of the fit gets this one
    saved = record.training_record(datamodule.prepare_info(), datamodule.class_names, datamodule.normalization(),
                                   {"hidden_size": 512, "dropout": 0.25, "lr": 0.1})
    assert reads == [str(small_prepared)]
    assert saved["normalization"] == {"mode": "dataset", "mean": normalization.mean, "std": normalization.std,
                                      "eps": normalization.eps}
    assert saved["params"] is not None and saved["model"] == {"hidden_size": 512, "dropout": 0.25}
    assert record.ModelSpec.from_dict(saved).normalization == normalization
