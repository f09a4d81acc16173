#!/usr/bin/env python3
"""What this machine can run of the GPU check: device, packages, and which project modules import.

    python scripts/gpu_probe.py --out OUT/probe.json
    python scripts/gpu_probe.py --simulate-missing nvidia.dali,ray,wandb,timm   # the GPU image, on a CPU box

Tier 0: no CUDA (or no torch/Lightning). Tier 1: CUDA + torch + Lightning + the small wheels (PyAV, pandas,
jsonargparse): model throughput, bf16 vs fp32, predict/export parity. Tier 2: tier 1 + DALI importable.
``project_imports`` names each project module the tier-1 path needs and the error if it does not import
(a module that imports DALI, Ray or wandb at the top would block tier 1 on an image without them).
"""

from __future__ import annotations

import argparse
import importlib
import json
import platform
import sys
from importlib import metadata

PACKAGES = {  # import name -> distribution name
    "torch": "torch", "torchvision": "torchvision", "pytorch_lightning": "pytorch-lightning",
    "torchmetrics": "torchmetrics", "onnx": "onnx", "onnxruntime": "onnxruntime", "cv2": "opencv-python-headless",
    "numpy": "numpy", "pandas": "pandas", "av": "av", "jsonargparse": "jsonargparse", "yaml": "pyyaml",
    "onnxscript": "onnxscript",
    "nvidia.dali": "nvidia-dali-cuda130", "ray": "ray", "wandb": "wandb", "timm": "timm", "pytest": "pytest",
}
TIER1_PACKAGES = ("torch", "pytorch_lightning", "torchmetrics", "numpy", "cv2", "pandas", "av", "jsonargparse")
# What the tier-1 tests and `fer bench train --feeds memory` import; "call:" entries run a function.
PROJECT_TIER1 = (
    "lightning_fer.model", "lightning_fer.module", "lightning_fer.callbacks", "lightning_fer.prepare",
    "lightning_fer.synth.dataset", "lightning_fer.predict", "lightning_fer.bench.train", "lightning_fer.cli",
    "call:lightning_fer.cli.build_parser", "call:lightning_fer.checkpoint_record._allowed_globals",
    "lightning_fer.lightning_cli", "lightning_fer.data.datamodule",
)


def probe(project: tuple[str, ...] = PROJECT_TIER1) -> dict:
    report: dict = {"python": platform.python_version(), "packages": {}, "project_imports": {}}
    for module, dist in PACKAGES.items():
        try:
            importlib.import_module(module)
            report["packages"][module] = _version(dist, module)
        except Exception as err:  # ImportError, or a broken native library
            report["packages"][module] = None
            report.setdefault("package_errors", {})[module] = f"{type(err).__name__}: {err}"[:300]
    report.update(_device())
    for name in project:
        report["project_imports"][name] = _try(name)
    tier1 = report["cuda"] and all(report["packages"].get(m) for m in TIER1_PACKAGES)
    report["tier"] = 0 if not tier1 else (2 if report["packages"].get("nvidia.dali") else 1)
    if report["packages"].get("onnxruntime"):
        import onnxruntime

        report["onnxruntime_providers"] = onnxruntime.get_available_providers()
    return report


def _version(dist: str, module: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return str(getattr(sys.modules[module], "__version__", "unknown"))


def _device() -> dict:
    try:
        import torch
    except Exception:
        return {"cuda": False, "devices": []}
    cuda = torch.cuda.is_available()
    devices = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())] if cuda else []
    return {"cuda": cuda, "devices": devices, "torch_cuda": torch.version.cuda,
            "bf16": bool(cuda and torch.cuda.is_bf16_supported())}


def _try(name: str) -> str:
    try:
        if name.startswith("call:"):
            module, _, function = name.removeprefix("call:").rpartition(".")
            getattr(importlib.import_module(module), function)()
        else:
            importlib.import_module(name)
        return "ok"
    except BaseException as err:  # SystemExit from argparse, ImportError, ...
        return f"{type(err).__name__}: {err}"[:300]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=None, help="write the report here as JSON (also printed)")
    parser.add_argument("--simulate-missing", default="",
                        help="comma-separated top-level modules to make unimportable first (test the GPU image here)")
    args = parser.parse_args(argv)
    for module in filter(None, args.simulate_missing.split(",")):
        sys.modules[module] = None  # `import module` (and its submodules) now raises ImportError
    report = probe()
    report["simulated_missing"] = [m for m in args.simulate_missing.split(",") if m]
    text = json.dumps(report, indent=1)
    if args.out:
        with open(args.out, "w") as handle:
            handle.write(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
