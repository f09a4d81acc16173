"""Export the trained classifier to ONNX or a torch.export archive (dynamic batch axis), with its ModelSpec inside.

Both go through ``torch.export``: ONNX via the current exporter (``torch.onnx.export(..., dynamo=True)``, which
needs onnxscript), the ``.pt2`` archive via ``torch.export.save`` (TorchScript is deprecated upstream). The
spec (classes, normalization, Haar parameters) rides along as ONNX metadata / a ``.pt2`` extra file, so
`fer predict --onnx MODEL.onnx` needs no checkpoint and no training data folder.
"""

from __future__ import annotations

from pathlib import Path

import torch

from lightning_fer.atomic_write import atomic_path
from lightning_fer.checkpoint_record import ModelSpec
from lightning_fer.errors import UserError

SPEC_KEY = "fer_spec"  # ONNX metadata key / .pt2 extra-file name holding ModelSpec.to_json()
OPSET = 18  # the lowest opset the torch.export-based ONNX exporter targets
BATCH = "batch"  # name of the dynamic batch dimension in both artefacts


def _example(spec: ModelSpec, batch: int = 2) -> tuple[torch.Tensor]:
    """Example input; batch 2, since torch.export would specialize a size-1 dimension to the constant 1."""
    return (torch.zeros(batch, 1, spec.params.input_size, spec.params.input_size),)


def _dynamic_batch() -> tuple[dict[int, torch.export.Dim]]:
    return ({0: torch.export.Dim(BATCH)},)


def export_onnx(model: torch.nn.Module, spec: ModelSpec, path: str | Path) -> Path:
    """Write an ONNX model with input ``frames`` (N x 1 x S x S) and output ``logits`` (N x 6), N dynamic."""
    try:
        import onnx
        import onnxscript  # noqa: F401  (the dynamo exporter's op library; fail here with a clear message)
    except ImportError as err:
        raise UserError(f"ONNX export needs onnx and onnxscript ({err}; pip install 'lightning-fer[export]')") from err
    program = torch.onnx.export(model.eval(), _example(spec), dynamo=True, input_names=["frames"],
                                output_names=["logits"], dynamic_shapes=_dynamic_batch(), opset_version=OPSET,
                                verbose=False)
    proto = program.model_proto
    entry = proto.metadata_props.add()
    entry.key, entry.value = SPEC_KEY, spec.to_json()
    proto.doc_string = "lightning_fer PaperResNet50: gray 112x112 face -> 6 expression logits"
    onnx.checker.check_model(proto)
    path = Path(path)
    with atomic_path(path) as tmp:
        onnx.save(proto, str(tmp))
    return path


def export_program(model: torch.nn.Module, spec: ModelSpec, path: str | Path) -> Path:
    """Write a ``torch.export`` ExportedProgram (``.pt2``, any batch size) with the spec as an extra file.

    Load it with ``torch.export.load(path, extra_files={"fer_spec": ""})`` and call ``.module()`` on it.
    """
    program = torch.export.export(model.eval(), _example(spec), dynamic_shapes=_dynamic_batch())
    path = Path(path)
    with atomic_path(path) as tmp:
        torch.export.save(program, str(tmp), extra_files={SPEC_KEY: spec.to_json()})
    return path


def spec_from_onnx_metadata(metadata: dict[str, str], path: str | Path) -> ModelSpec:
    """The ModelSpec stored by :func:`export_onnx`; UserError for an ONNX file not exported by `fer export`."""
    if SPEC_KEY not in metadata:
        raise UserError(f"{path}: no {SPEC_KEY} metadata (not written by `fer export`); also pass --ckpt")
    try:
        return ModelSpec.from_json(metadata[SPEC_KEY])
    except (ValueError, KeyError, TypeError) as err:
        raise UserError(f"{path}: unreadable {SPEC_KEY} metadata ({err})") from err
