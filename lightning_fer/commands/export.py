"""`fer export`: the trained classifier as ONNX or as a torch.export archive (.pt2), both with a dynamic batch axis.

    fer export --ckpt runs/demo/checkpoints/best.ckpt --format onnx --out model.onnx
    fer export --ckpt best.ckpt --format export               # -> best.pt2 beside the checkpoint

The file carries the preprocessing and Haar settings (`fer predict --onnx model.onnx` needs nothing
else). After an ONNX export the logits of ONNX Runtime and PyTorch are compared on a few inputs.
TorchScript is deprecated upstream and no longer offered: `--format export` replaces it.
"""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = "export a checkpoint to ONNX or a torch.export archive (.pt2)"

SUFFIX = {"onnx": ".onnx", "export": ".pt2"}


def _format(text: str) -> str:
    """argparse type of --format: one clear line for the retired TorchScript format."""
    if text == "torchscript":
        raise argparse.ArgumentTypeError("TorchScript is deprecated upstream and no longer exported: use "
                                         "--format export (a torch.export .pt2 archive, load with torch.export.load)")
    if text not in SUFFIX:
        raise argparse.ArgumentTypeError(f"invalid choice {text!r} (choose from {', '.join(SUFFIX)})")
    return text


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("export", help=HELP,
                                   description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ckpt", required=True, help="checkpoint from `fer fit` (best.ckpt)")
    parser.add_argument("--format", default="onnx", type=_format, metavar="{" + ",".join(SUFFIX) + "}",
                        help="onnx: ONNX Runtime model; export: torch.export ExportedProgram (default: %(default)s)")
    parser.add_argument("--out", default=None, help="output file (default: beside the checkpoint)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import numpy as np
    import torch

    from lightning_fer.predict import OnnxEngine, load_model
    from lightning_fer.predict.export import OPSET, SPEC_KEY, export_onnx, export_program

    model, spec = load_model(args.ckpt)
    out = Path(args.out) if args.out else Path(args.ckpt).with_suffix(SUFFIX[args.format])
    out.parent.mkdir(parents=True, exist_ok=True)
    side = spec.params.input_size
    if args.format == "export":
        export_program(model, spec, out)
        print(f"wrote {out} (torch.export ExportedProgram, input N x 1 x {side} x {side}; "
              f"torch.export.load(path, extra_files={{'{SPEC_KEY}': ''}}).module())")
        return 0
    export_onnx(model, spec, out)
    x = np.random.default_rng(0).standard_normal((3, 1, side, side)).astype(np.float32)
    with torch.inference_mode():
        expected = model(torch.from_numpy(x)).numpy()
    error = float(np.abs(OnnxEngine(out, "cpu").logits(x) - expected).max())
    print(f"wrote {out} (ONNX opset {OPSET}, dynamic batch); max |logit difference| vs PyTorch on 3 inputs: "
          f"{error:.2e}")
    return 0
