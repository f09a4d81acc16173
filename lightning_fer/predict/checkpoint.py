"""Recover what inference needs from a `fer fit` checkpoint: its ModelSpec and the eval-mode network.

Checkpoints carry their own :class:`ModelSpec` as ``checkpoint["fer"]`` (lightning_fer.checkpoint_record, written
by ``FERModule.on_save_checkpoint``): classes, normalization with the dataset statistics, the crop pass's
parameters (from ``prepare.json``) and the model's settings, so `fer predict` and `fer export` need neither the
training data folder nor DALI. Checkpoints written before that record existed fall back to the data module's
``data_dir``/prepare.json; when it is gone, dataset normalization is an error and missing crop parameters a
warning naming what is missing (the defaults are then used).
"""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import torch

from dali_pipelines.spec import Normalization
from lightning_fer.checkpoint_record import (
    RECORD_KEY,
    ModelSpec,
    load_checkpoint_dict,
    params_from,
    prepare_info,
)
from lightning_fer.classes import CLASSES
from lightning_fer.errors import UserError
from lightning_fer.model import HIDDEN_SIZE
from lightning_fer.prepare.manifest import dataset_normalization
from lightning_fer.prepare.params import PrepareParams

__all__ = ["ModelSpec", "build_model", "load_checkpoint_dict", "load_model", "spec_from_checkpoint"]


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
    info, source = prepare_info(data_hp.get("data_dir"))
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
        params = params_from(info["params"])
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
