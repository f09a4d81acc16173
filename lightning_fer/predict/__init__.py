"""Inference on new footage (`fer predict`) and model export (`fer export`).

    from lightning_fer.predict import load_model, TorchEngine, PredictOptions, predict_source, resolve_sources
    model, spec = load_model("runs/demo/checkpoints/best.ckpt")
    result = predict_source(resolve_sources("clip.mp4")[0], TorchEngine(model), spec, PredictOptions())
"""

from lightning_fer.checkpoint_record import ModelSpec, load_checkpoint_dict
from lightning_fer.predict.checkpoint import load_model, spec_from_checkpoint
from lightning_fer.predict.engine import OnnxEngine, TorchEngine, softmax
from lightning_fer.predict.pipeline import PredictOptions, SourceResult, predict_source, write_annotated
from lightning_fer.predict.results import NO_FACE, FaceRow, format_summary, write_outputs
from lightning_fer.predict.sources import Source, resolve_sources
from lightning_fer.prepare.tracker import FaceTracker, FrameFaces

__all__ = [
    "NO_FACE", "FaceRow", "FaceTracker", "FrameFaces", "ModelSpec", "OnnxEngine", "PredictOptions", "Source",
    "SourceResult", "TorchEngine", "format_summary", "load_checkpoint_dict", "load_model",
    "predict_source", "resolve_sources", "softmax", "spec_from_checkpoint", "write_annotated", "write_outputs",
]
