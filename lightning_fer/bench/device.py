"""Device choice and compute-peak arithmetic shared by the benchmarks' ``--device cpu|gpu|auto``.

The model's cost is fixed by its shape: ResNet-50 with the paper's head on 1 x 112 x 112 is 1.06 GMAC
forward per image, so a trained image (forward + backward ~ 3 x forward) costs ~3 x 2 x 1.06 GFLOP.
img/s x that cost / the device's peak is the share of the device the training step uses. The peak is
measured in the same run (a large matmul in the benchmark's dtype), and the vendor's dense bf16 figure
is quoted beside it for known GPUs.
"""

from __future__ import annotations

import time

from lightning_fer.errors import UserError

FORWARD_MACS_PER_IMAGE = 1.06e9  # PaperResNet50 at 1 x 112 x 112 (tests/test_gpu_train.py checks the count)
TRAIN_FLOP_PER_IMAGE = 3 * 2 * FORWARD_MACS_PER_IMAGE  # forward + backward (~2x forward), 2 FLOP per MAC
# Vendor dense (no sparsity) bf16 tensor-core peaks, FLOP/s, matched by substring of the device name.
NOMINAL_BF16_PEAK = {"H200": 989e12, "H100": 989e12, "A100": 312e12, "L40S": 362e12, "A10": 125e12}
DEVICES = ("auto", "cpu", "gpu")


def resolve_device(name: str) -> str:
    """``auto`` -> ``gpu`` with CUDA, else ``cpu``; ``gpu`` without CUDA is a clear error."""
    import torch

    if name not in DEVICES:
        raise UserError(f"--device {name!r}: expected one of {', '.join(DEVICES)}")
    if name == "auto":
        return "gpu" if torch.cuda.is_available() else "cpu"
    if name == "gpu" and not torch.cuda.is_available():
        raise UserError("--device gpu: no CUDA device here (use --device cpu or auto)")
    return name


def torch_device(device: str):
    import torch

    return torch.device("cuda", torch.cuda.current_device()) if device == "gpu" else torch.device("cpu")


def synchronize(device: str) -> None:
    """Wait for queued GPU work so wall-clock intervals cover it (no-op on CPU)."""
    import torch

    if device == "gpu":
        torch.cuda.synchronize()


def device_name(device: str) -> str:
    import torch

    return torch.cuda.get_device_name() if device == "gpu" else "CPU"


def nominal_peak(device: str) -> float | None:
    """The vendor's dense bf16 peak for a known GPU, else None."""
    if device != "gpu":
        return None
    name = device_name(device)
    return next((peak for key, peak in NOMINAL_BF16_PEAK.items() if key in name), None)


def measured_matmul_peak(device: str, size: int | None = None, repeats: int = 10) -> tuple[float, str]:
    """FLOP/s of a square matmul in the dtype training computes in (bf16 on GPU, fp32 on CPU), and that dtype.

    An upper bound that the same machine actually reaches, so the fraction is not flattered by a vendor
    figure the clocks never hit (~790 TFLOP/s measured on an H200 rated 989: docs/DESIGN_NOTES.md, platform facts).
    """
    import torch

    dtype = torch.bfloat16 if device == "gpu" else torch.float32
    size = size or (8192 if device == "gpu" else 512)
    target = torch_device(device)
    a = torch.randn(size, size, device=target, dtype=dtype)
    b = torch.randn(size, size, device=target, dtype=dtype)
    for _ in range(2):  # warm-up: kernel selection, clocks
        a @ b
    synchronize(device)
    start = time.perf_counter()
    for _ in range(repeats):
        a @ b
    synchronize(device)
    seconds = time.perf_counter() - start
    return 2 * size**3 * repeats / seconds, str(dtype).removeprefix("torch.")


def peak_fraction(img_s: float, peak_flops: float | None) -> float | None:
    """Share of ``peak_flops`` that ``img_s`` trained images per second use (None without a peak)."""
    if not peak_flops:
        return None
    return img_s * TRAIN_FLOP_PER_IMAGE / peak_flops
