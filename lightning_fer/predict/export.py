"""Export the trained classifier to ONNX (dynamic batch axis) or TorchScript, with its ModelSpec inside.

The spec (classes, normalization, Haar parameters) rides along as ONNX metadata / a TorchScript extra
file, so `fer predict --onnx MODEL.onnx` needs no checkpoint and no training data folder. The
TorchScript-based ONNX exporter (``dynamo=False``) is used: the dynamo one needs onnxscript.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import torch

from lightning_fer.errors import UserError
from lightning_fer.predict.checkpoint import ModelSpec

SPEC_KEY = "fer_spec"  # ONNX metadata key / TorchScript extra-file name holding ModelSpec.to_json()
OPSET = 17


def _example(spec: ModelSpec, batch: int = 2) -> torch.Tensor:
    return torch.zeros(batch, 1, spec.params.size, spec.params.size)


def export_onnx(model: torch.nn.Module, spec: ModelSpec, path: str | Path) -> Path:
    """Write an ONNX model with input ``frames`` (N x 1 x S x S) and output ``logits`` (N x 6), N dynamic."""
    try:
        import onnx
    except ImportError as err:
        raise UserError("ONNX export needs onnx (pip install 'lightning-fer[export]')") from err
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with warnings.catch_warnings():  # the legacy exporter warns about itself and shape checks it traces
        warnings.simplefilter("ignore")
        torch.onnx.export(model.eval(), (_example(spec),), str(tmp), input_names=["frames"], output_names=["logits"],
                          dynamic_axes={"frames": {0: "batch"}, "logits": {0: "batch"}}, opset_version=OPSET,
                          dynamo=False)
    proto = onnx.load(str(tmp))
    entry = proto.metadata_props.add()
    entry.key, entry.value = SPEC_KEY, spec.to_json()
    proto.doc_string = "lightning_fer PaperResNet50: gray 112x112 face -> 6 expression logits"
    onnx.checker.check_model(proto)
    onnx.save(proto, str(tmp))
    os.replace(tmp, path)
    return path


def export_torchscript(model: torch.nn.Module, spec: ModelSpec, path: str | Path) -> Path:
    """Write a traced TorchScript module (any batch size) with the spec as an extra file."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        traced = torch.jit.trace(model.eval(), _example(spec), check_trace=False)
    torch.jit.save(traced, str(tmp), _extra_files={SPEC_KEY: spec.to_json()})
    os.replace(tmp, path)
    return path


def spec_from_onnx_metadata(metadata: dict[str, str], path: str | Path) -> ModelSpec:
    """The ModelSpec stored by :func:`export_onnx`; UserError for an ONNX file not exported by `fer export`."""
    if SPEC_KEY not in metadata:
        raise UserError(f"{path}: no {SPEC_KEY} metadata (not written by `fer export`); also pass --ckpt")
    try:
        return ModelSpec.from_json(metadata[SPEC_KEY])
    except (ValueError, KeyError, TypeError) as err:
        raise UserError(f"{path}: unreadable {SPEC_KEY} metadata ({err})") from err
