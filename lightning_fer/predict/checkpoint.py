"""Load a `fer fit` checkpoint safely and recover what inference needs from it.

``torch.load(weights_only=True)`` refuses to run arbitrary pickled code from an untrusted file; the
few non-tensor types a Lightning checkpoint of this project may hold are allow-listed explicitly.

Checkpoints carry their own :class:`ModelSpec` as ``checkpoint["fer"]`` (written by
``FERModule.on_save_checkpoint`` from :func:`training_record`): classes, normalization with the dataset
statistics, the crop pass's parameters (from ``prepare.json``) and the model's settings, so `fer predict` and
`fer export` need neither the training data folder nor DALI. Checkpoints written before that record existed
fall back to the data module's ``data_dir``/prepare.json; when it is gone, dataset normalization is an error
and missing crop parameters a warning naming what is missing (the defaults are then used).
"""

from __future__ import annotations

import json
import pickle
import sys
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
from lightning_fer.prepare.manifest import PREPARE_INFO, dataset_normalization, read_prepare_info
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
                   params=_params_from(info["params"]), hidden_size=int(info["hidden_size"]),
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


def training_record(data_dir: str | Path, class_names: tuple[str, ...], normalization: Normalization,
                    model_hparams: Mapping[str, Any]) -> dict[str, Any]:
    """checkpoint["fer"] for a model trained on ``data_dir`` with ``normalization`` (statistics included): what
    `fer predict` and `fer export` must reproduce, in plain JSON types. Crop parameters that cannot be read
    (a data folder without prepare.json) are recorded as missing (``params: None``), never as defaults."""
    info, source = _prepare_info(str(data_dir))
    params = (info or {}).get("params")
    model = {k: model_hparams[k] for k in MODEL_SETTINGS if k in model_hparams}
    spec = ModelSpec(classes=tuple(class_names), normalization=normalization, params_source=source,
                     hidden_size=int(model.get("hidden_size", ModelSpec.hidden_size)))
    return {**spec.to_dict(), "params": _params_from(params).to_dict() if params else None,
            "params_id": (info or {}).get("params_id"), "model": model}


def spec_from_checkpoint(checkpoint: dict, path: str | Path = "checkpoint") -> ModelSpec:
    """Classes, normalization and Haar parameters as training used them: from the checkpoint's own record,
    else (older checkpoints) from the training data folder it names."""
    model_hp = dict(checkpoint.get("hyper_parameters") or {})
    record = checkpoint.get(RECORD_KEY)
    if isinstance(record, dict):
        return _spec_from_record(record, model_hp, path)
    num_classes = int(model_hp.get("num_classes", len(CLASSES)))
    if num_classes != len(CLASSES):
        raise UserError(f"{path}: a model with {num_classes} classes; this project predicts {len(CLASSES)}")
    data_hp = dict(checkpoint.get("datamodule_hyper_parameters") or {})
    info, source = _prepare_info(data_hp.get("data_dir"))
    mode = data_hp.get("normalization", "unit")
    if mode == "dataset":
        try:
            normalization = dataset_normalization(info or {}, source)
        except UserError as err:
            raise UserError(f"{path}: trained with dataset normalization, cannot reproduce the preprocessing: "
                            f"{err}") from err
    else:
        try:
            normalization = Normalization(mode)
        except ValueError as err:
            raise UserError(f"{path}: {err}") from err
    if info and info.get("params"):
        params = _params_from(info["params"])
    else:
        params = PrepareParams()
        _warn(f"{path} records no crop-pass parameters ({_reason(source)}): using the default Haar settings "
              "(--scale-factor, --min-neighbors, ... override them)")
    return ModelSpec(classes=CLASSES, normalization=normalization, params=params, params_source=source,
                     hidden_size=int(model_hp.get("hidden_size", HIDDEN_SIZE)), model_hparams=model_hp)


def _spec_from_record(record: dict, model_hp: dict, path: str | Path) -> ModelSpec:
    try:
        classes = tuple(record["classes"])
        params = record.get("params")
        spec = ModelSpec.from_dict({**record, "params": params or {}}, default_source="checkpoint")
    except (KeyError, TypeError, ValueError) as err:
        raise UserError(f"{path}: unreadable {RECORD_KEY!r} record in the checkpoint ({err})") from err
    if classes != CLASSES:
        raise UserError(f"{path}: a model of the classes {list(classes)}; this project predicts {list(CLASSES)}")
    if not params:
        _warn(f"{path}: its training data had no crop-pass parameters ({_reason(spec.params_source)}): "
              "using the default Haar settings (--scale-factor, --min-neighbors, ... override them)")
    return replace(spec, model_hparams={**model_hp, **spec.model_hparams})


def _warn(message: str) -> None:
    """One line on stderr: inference goes on, but the user learns what it could not reproduce."""
    print(f"fer: warning: {message}", file=sys.stderr)


def _reason(source: str) -> str:
    return source.removeprefix("defaults (").removesuffix(")")


def _prepare_info(data_dir: str | None) -> tuple[dict | None, str]:
    """The crop pass's prepare.json of ``data_dir`` (through the shared reader) and where it came from."""
    if not data_dir:
        return None, "defaults (no data_dir in the checkpoint)"
    path = Path(data_dir) / PREPARE_INFO
    try:
        return read_prepare_info(data_dir), str(path)
    except UserError:
        return None, f"defaults ({path} not readable)"


def _params_from(values: dict) -> PrepareParams:
    try:
        return PrepareParams.from_dict(values)
    except (TypeError, ValueError) as err:
        raise UserError(f"bad Haar parameters recorded with the model ({err})") from err


def build_model(checkpoint: dict, spec: ModelSpec, path: str | Path = "checkpoint") -> torch.nn.Module:
    """The PaperResNet50 with the checkpoint's weights, in eval mode; UserError if they do not fit."""
    from lightning_fer.model import PaperResNet50

    state = {k.removeprefix("model."): v for k, v in checkpoint["state_dict"].items() if k.startswith("model.")}
    model = PaperResNet50(num_classes=len(spec.classes), hidden_size=spec.hidden_size).eval()
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong = [f"{k} {tuple(state[k].shape)} vs {tuple(v.shape)}" for k, v in expected.items()
             if k in state and tuple(state[k].shape) != tuple(v.shape)]
    if missing or unexpected or wrong:
        details = []
        if missing:
            details.append(f"{len(missing)} weights missing (e.g. {missing[0]})")
        if unexpected:
            details.append(f"{len(unexpected)} unexpected (e.g. {unexpected[0]})")
        if wrong:
            details.append(f"{len(wrong)} of another shape (e.g. {wrong[0]})")
        raise UserError(f"{path}: not a checkpoint of this project's model (PaperResNet50): " + "; ".join(details))
    model.load_state_dict(state)
    return model


def load_model(path: str | Path) -> tuple[torch.nn.Module, ModelSpec]:
    """Checkpoint file -> (eval-mode model on the CPU, its ModelSpec)."""
    checkpoint = load_checkpoint_dict(path)
    spec = spec_from_checkpoint(checkpoint, path)
    return build_model(checkpoint, spec, path), spec
