"""The checkpoint record: what a `fer fit` checkpoint carries besides the weights, and how to read one safely.

Below both training and inference: ``FERModule.on_save_checkpoint`` writes :func:`training_record` as
``checkpoint["fer"]`` (classes, normalization with the dataset statistics, the crop pass's parameters from
``prepare.json``, the model's settings); `fer predict`/`fer export` (lightning_fer.predict.checkpoint) read it
back as a :class:`ModelSpec`, and ``model.init_from`` (lightning_fer.transfer) loads checkpoints through
:func:`load_checkpoint_dict`.

``torch.load(weights_only=True)`` refuses to run arbitrary pickled code from an untrusted file; the few
non-tensor types a Lightning checkpoint of this project may hold are allow-listed explicitly.
"""

from __future__ import annotations

import json
import pickle
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch

from dali_pipelines.spec import Normalization
from lightning_fer.classes import CLASSES
from lightning_fer.errors import UserError
from lightning_fer.model import HIDDEN_SIZE
from lightning_fer.prepare.manifest import PREPARE_INFO, read_prepare_info
from lightning_fer.prepare.params import PrepareParams


@dataclass(frozen=True)
class ModelSpec:
    """Everything besides the weights that inference must match with training."""

    classes: tuple[str, ...] = CLASSES
    normalization: Normalization = Normalization()
    params: PrepareParams = PrepareParams()
    hidden_size: int = HIDDEN_SIZE
    params_source: str = "defaults"  # where the Haar parameters came from (shown to the user)
    model_hparams: dict = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        norm = self.normalization
        return {"classes": list(self.classes), "hidden_size": self.hidden_size,
                "normalization": {"mode": norm.mode, "mean": norm.mean, "std": norm.std, "eps": norm.eps},
                "params": self.params.to_dict(), "params_source": self.params_source}

    def to_json(self) -> str:
        return json.dumps(self.to_dict())

    @classmethod
    def from_dict(cls, info: Mapping[str, Any], default_source: str = "exported model") -> ModelSpec:
        return cls(classes=tuple(info["classes"]), normalization=Normalization(**info["normalization"]),
                   params=params_from(info["params"]), hidden_size=int(info["hidden_size"]),
                   params_source=info.get("params_source", default_source),
                   model_hparams=dict(info.get("model") or {}))

    @classmethod
    def from_json(cls, text: str) -> ModelSpec:
        return cls.from_dict(json.loads(text))

    def with_overrides(self, **overrides: object) -> ModelSpec:
        """A copy whose Haar parameters take the given non-None values (command-line overrides)."""
        given = {k: v for k, v in overrides.items() if v is not None}
        if not given:
            return self
        try:
            return replace(self, params=replace(self.params, **given), params_source=self.params_source + " + options")
        except ValueError as err:
            raise UserError(str(err)) from err


def _allowed_globals() -> list:
    """Types a checkpoint of this project may pickle besides tensors and containers; checkpoints written before
    the settings moved to dali_pipelines.spec name them by their old modules."""
    from dali_pipelines.spec import Augmentation, FrameSampling

    members = (getattr(torch.optim, name) for name in dir(torch.optim))
    optimizers = [m for m in members if isinstance(m, type) and issubclass(m, torch.optim.Optimizer)]
    moved = [(FrameSampling, "dali_pipelines.pipelines.FrameSampling"),
             (Augmentation, "dali_pipelines.pipelines.Augmentation"),
             (Normalization, "dali_pipelines.reference.Normalization")]
    return [FrameSampling, Augmentation, Normalization, *moved, *optimizers]


def load_checkpoint_dict(path: str | Path) -> dict:
    """The checkpoint as a dict of tensors and plain values; UserError for a missing, corrupt or unsafe file."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: checkpoint not found")
    try:
        with torch.serialization.safe_globals(_allowed_globals()):
            checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else "unpickling failed"
        raise UserError(f"{path}: not a loadable checkpoint or refused as unsafe ({first[:300]})") from err
    except (RuntimeError, OSError, EOFError, ValueError, zipfile.BadZipFile) as err:
        raise UserError(f"{path}: corrupt or truncated checkpoint ({str(err).splitlines()[0][:300]})") from err
    if not isinstance(checkpoint, dict) or not isinstance(checkpoint.get("state_dict"), dict):
        raise UserError(f"{path}: not a Lightning checkpoint (no state_dict)")
    return checkpoint


RECORD_KEY = "fer"  # checkpoint["fer"]: ModelSpec.to_dict() + "model" (the network's constructor settings)
MODEL_SETTINGS = ("num_classes", "hidden_size", "dropout")  # FERModule hyperparameters that shape the network


def training_record(prepare: tuple[dict | None, str], class_names: tuple[str, ...], normalization: Normalization,
                    model_hparams: Mapping[str, Any]) -> dict[str, Any]:
    """checkpoint["fer"] for a model trained on data whose ``prepare`` info (:func:`prepare_info`, read once per
    fit by the data module) and ``normalization`` (statistics included) are given: what `fer predict` and
    `fer export` must reproduce, in plain JSON types. Crop parameters that cannot be read (a data folder without
    prepare.json) are recorded as missing (``params: None``), never as defaults."""
    info, source = prepare
    params = (info or {}).get("params")
    model = {k: model_hparams[k] for k in MODEL_SETTINGS if k in model_hparams}
    spec = ModelSpec(classes=tuple(class_names), normalization=normalization, params_source=source,
                     hidden_size=int(model.get("hidden_size", ModelSpec.hidden_size)))
    return {**spec.to_dict(), "params": params_from(params).to_dict() if params else None,
            "params_id": (info or {}).get("params_id"), "model": model}


def prepare_info(data_dir: str | Path | None) -> tuple[dict | None, str]:
    """The crop pass's prepare.json of ``data_dir`` (through the shared reader) and where it came from; None and
    the reason when it cannot be read."""
    if not data_dir:
        return None, "defaults (no data_dir in the checkpoint)"
    path = Path(data_dir) / PREPARE_INFO
    try:
        return read_prepare_info(data_dir), str(path)
    except UserError:
        return None, f"defaults ({path} not readable)"


def params_from(values: dict) -> PrepareParams:
    try:
        return PrepareParams.from_dict(values)
    except (TypeError, ValueError) as err:
        raise UserError(f"bad Haar parameters recorded with the model ({err})") from err
