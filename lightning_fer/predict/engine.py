"""Run the classifier on batches of preprocessed faces: PyTorch (CPU or CUDA) or ONNX Runtime.

Both engines take float32 N x 1 x 112 x 112 NumPy batches and return N x 6 logits, so the predict
loop does not care which one serves it; the benchmark picks the faster on the machine at hand.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import numpy as np
import torch

from lightning_fer.errors import UserError


class Engine(Protocol):
    name: str

    def logits(self, batch: np.ndarray) -> np.ndarray: ...


def pick_device(device: str) -> torch.device:
    """``auto`` is CUDA when present, else CPU; asking for CUDA without it is a clear error."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise UserError("--device cuda: no CUDA device available (use auto or cpu)")
    if device not in ("cpu", "cuda"):
        raise UserError(f"--device {device!r}: expected auto, cpu or cuda")
    return torch.device(device)


class TorchEngine:
    """The PyTorch model in eval mode under ``inference_mode`` (channels_last on CPU: faster oneDNN convs)."""

    def __init__(self, model: torch.nn.Module, device: str = "auto") -> None:
        self.device = pick_device(device)
        self.channels_last = True
        self.model = model.eval().to(self.device, memory_format=torch.channels_last)
        self.name = f"torch-{self.device.type}"

    @torch.inference_mode()
    def logits(self, batch: np.ndarray) -> np.ndarray:
        x = torch.from_numpy(np.ascontiguousarray(batch, dtype=np.float32)).to(self.device, non_blocking=True)
        return self.model(x.contiguous(memory_format=torch.channels_last)).float().cpu().numpy()


class OnnxEngine:
    """An exported ONNX model on ONNX Runtime (CUDA provider first when installed and asked for)."""

    def __init__(self, path: str | Path, device: str = "auto", threads: int = 0) -> None:
        try:
            import onnxruntime as ort
        except ImportError as err:
            raise UserError("--onnx needs onnxruntime (pip install 'lightning-fer[export]')") from err
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if threads:
            options.intra_op_num_threads = threads
        available = ort.get_available_providers()
        providers = ["CPUExecutionProvider"]
        if device in ("auto", "cuda") and "CUDAExecutionProvider" in available and torch.cuda.is_available():
            providers.insert(0, "CUDAExecutionProvider")
        elif device == "cuda":
            raise UserError("--device cuda: onnxruntime here has no CUDA provider (use auto or cpu)")
        try:
            self.session = ort.InferenceSession(str(path), options, providers=providers)
        except Exception as err:  # onnxruntime raises its own untyped errors for unreadable models
            raise UserError(f"{path}: cannot load ONNX model ({str(err).splitlines()[0][:300]})") from err
        if device == "cuda" and self.session.get_providers()[0] != "CUDAExecutionProvider":
            # ONNX Runtime drops a provider whose libraries (CUDA, cuDNN) fail to load with only a log warning
            raise UserError(f"--device cuda: onnxruntime could not start its CUDA provider for {path} (CUDA or cuDNN "
                            "libraries missing or mismatched?); use --device auto to run on the CPU instead")
        self.input_name = self.session.get_inputs()[0].name
        self.name = "onnxruntime-" + self.session.get_providers()[0].removesuffix("ExecutionProvider").lower()

    def metadata(self) -> dict[str, str]:
        return dict(self.session.get_modelmeta().custom_metadata_map)

    def logits(self, batch: np.ndarray) -> np.ndarray:
        return self.session.run(None, {self.input_name: np.ascontiguousarray(batch, dtype=np.float32)})[0]


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax in float64 (stable), returned as float32."""
    z = logits.astype(np.float64) - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return (e / e.sum(axis=1, keepdims=True)).astype(np.float32)
