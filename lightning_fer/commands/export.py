"""`fer export`: the trained classifier as ONNX (dynamic batch axis) or TorchScript.

    fer export --ckpt runs/demo/checkpoints/best.ckpt --format onnx --out model.onnx
    fer export --ckpt best.ckpt --format torchscript          # -> best.ts.pt beside the checkpoint

The file carries the preprocessing and Haar settings (`fer predict --onnx model.onnx` needs nothing
else). After an ONNX export the logits of ONNX Runtime and PyTorch are compared on a few inputs.
"""

from __future__ import annotations

import argparse
from pathlib import Path

SUFFIX = {"onnx": ".onnx", "torchscript": ".ts.pt"}


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("export", help="export a checkpoint to ONNX or TorchScript",
                                   description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ckpt", required=True, help="checkpoint from `fer fit` (best.ckpt)")
    parser.add_argument("--format", default="onnx", choices=tuple(SUFFIX), help="default: %(default)s")
    parser.add_argument("--out", default=None, help="output file (default: beside the checkpoint)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import numpy as np
    import torch

    from lightning_fer.predict import load_model
    from lightning_fer.predict.export import export_onnx, export_torchscript

    model, spec = load_model(args.ckpt)
    out = Path(args.out) if args.out else Path(args.ckpt).with_suffix(SUFFIX[args.format])
    out.parent.mkdir(parents=True, exist_ok=True)
    if args.format == "torchscript":
        export_torchscript(model, spec, out)
        print(f"wrote {out} (TorchScript; torch.jit.load it, input N x 1 x {spec.params.size} x {spec.params.size})")
        return 0
    export_onnx(model, spec, out)
    from lightning_fer.predict import OnnxEngine

    x = np.random.default_rng(0).standard_normal((3, 1, spec.params.size, spec.params.size)).astype(np.float32)
    with torch.inference_mode():
        expected = model(torch.from_numpy(x)).numpy()
    error = float(np.abs(OnnxEngine(out, "cpu").logits(x) - expected).max())
    print(f"wrote {out} (ONNX opset 17, dynamic batch); max |logit difference| vs PyTorch on 3 inputs: {error:.2e}")
    return 0
