"""The GPU check's pieces, run on the CPU: the training helpers of the `gpu` tests (tiny), the model's MAC count
behind the peak fraction, `fer bench train|data --device cpu` (the GPU code paths on the CPU), the frame cache,
the offline wheelhouse (split/stage/install), the import probe of the GPU image, and the summary writer."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch
from gpu_helpers import first_step_loss, fit_steps, prepared_frames

from lightning_fer.cli import main

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))
import gpu_summary  # noqa: E402
import wheelhouse  # noqa: E402


@pytest.fixture(scope="module")
def frames(small_prepared: Path) -> tuple[torch.Tensor, torch.Tensor]:
    return prepared_frames(small_prepared, every=6)


def test_helpers_train_channels_last_on_cpu_and_checkpoint_loads(frames, tmp_path):
    """fp32 here: CPU bf16 autocast on this kind of machine (no native bf16) is ~10x slower; the slow test has it."""
    from lightning_fer.predict import load_model

    losses, trainer = fit_steps(*frames, tmp_path, "cpu", "32-true", steps=1, batch=2)
    assert len(losses) == 1 and all(np.isfinite(losses))
    conv = trainer.lightning_module.model.stages[0][0].conv2.weight  # 64 x 64 x 3 x 3 (a 1-channel one is both)
    assert conv.is_contiguous(memory_format=torch.channels_last) and not conv.is_contiguous()
    model, spec = load_model(tmp_path / "checkpoints" / "best.ckpt")
    assert spec.normalization.mode == "unit"
    with torch.inference_mode():
        assert model(frames[0][:2]).shape == (2, 6)


@pytest.mark.slow
def test_first_step_loss_bf16_vs_fp32_on_cpu(frames, tmp_path):
    """The tolerance of tests/test_gpu_train.py, checked against CPU autocast (bf16 there too); measured 2026-12-01
    on 2 cores: fp32 1.8852, bf16 1.7359 (7.9%) at batch 4."""
    from test_gpu_train import BF16_FIRST_LOSS_RTOL

    fp32 = first_step_loss(*frames, tmp_path / "a", "cpu", "32-true", batch=4)
    bf16 = first_step_loss(*frames, tmp_path / "b", "cpu", "bf16-mixed", batch=4)
    print(f"CPU step-1 loss fp32 {fp32:.5f} bf16 {bf16:.5f}: relative {abs(bf16 - fp32) / fp32:.2e}")
    assert fp32 != bf16  # autocast really changed the arithmetic
    assert abs(bf16 - fp32) / fp32 <= BF16_FIRST_LOSS_RTOL


def test_forward_macs_per_image_match_the_model():
    from torch.utils.flop_counter import FlopCounterMode

    from lightning_fer.bench.device import FORWARD_MACS_PER_IMAGE
    from lightning_fer.model import PaperResNet50

    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        PaperResNet50().eval()(torch.zeros(1, 1, 112, 112))
    macs = counter.get_total_flops() / 2
    assert macs == pytest.approx(FORWARD_MACS_PER_IMAGE, rel=0.02)


def test_peak_arithmetic():
    from lightning_fer.bench import device as dev

    flops, dtype = dev.measured_matmul_peak("cpu", size=128, repeats=2)
    assert flops > 1e8 and dtype == "float32"
    assert dev.peak_fraction(1000.0, 6.36e12) == pytest.approx(1000 * 6.36e9 / 6.36e12)
    assert dev.peak_fraction(1000.0, None) is None


def test_bench_train_runs_every_feed_on_cpu(small_prepared, tmp_path):
    out = tmp_path / "train.json"
    code = main(["bench", "--output", str(tmp_path / "B.md"), "--json", str(out), "train", "--device", "cpu",
                 "--data", str(small_prepared), "--batch-size", "2", "--steps", "1", "--warmup", "1"])
    assert code == 0
    result = json.loads(out.read_text())
    assert result["name"] == "train"  # the CPU section; --device gpu writes train-gpu
    assert [(r[0], r[1]) for r in result["rows"]] == [
        (feed, 2) for feed in ("in-memory tensors", "DALI", "DALI once -> frame cache")]
    img_s = [r[3] for r in result["rows"]]
    assert all(v > 0 for v in img_s)
    assert result["rows"][0][4] == 1.0 and all(r[6].endswith("%") for r in result["rows"])  # peak share
    assert result["ratio"] == pytest.approx(result["rows"][1][3] / result["rows"][0][3])
    assert "## Training throughput: DALI-fed vs in-memory (CPU)" in (tmp_path / "B.md").read_text()


def test_bench_gpu_without_cuda_is_a_clear_error(small_prepared, tmp_path, capsys):
    if torch.cuda.is_available():
        pytest.skip("has CUDA")
    for bench in ("train", "data"):
        assert main(["bench", "--output", str(tmp_path / "B.md"), bench, "--device", "gpu",
                     "--data", str(small_prepared)]) == 2
        assert "--device gpu: no CUDA device here" in capsys.readouterr().err
    assert not (tmp_path / "B.md").exists()


def test_bench_data_cpu_has_no_gpu_row(small_prepared, tmp_path):
    out = tmp_path / "data.json"
    assert main(["bench", "--output", str(tmp_path / "B.md"), "--json", str(out), "data", "--device", "cpu",
                 "--data", str(small_prepared), "--max-clips", "3", "--epochs", "1", "--batch-size", "16"]) == 0
    loaders = {row[1] for row in json.loads(out.read_text())["rows"]}
    assert loaders == {"baseline (PyAV + reference)", "DALI CPU"}


def test_frame_cache_holds_one_pass_and_reshuffles_per_pass(small_prepared):
    from dali_media import collect

    from dali_pipelines.spec import FrameSampling
    from lightning_fer.bench.data import dali_loader, load_ranges
    from lightning_fer.data.frame_cache import FrameCache

    ranges = load_ranges(small_prepared, max_clips=4)
    source = dali_loader(ranges, FrameSampling(), False, 16, 2, None, str(small_prepared.parent / "cache-list.txt"))
    everything, labels = collect(source)
    cache = FrameCache(source, batch_size=16, device="cpu", seed=3)
    assert len(cache.frames) == len(everything) == sum(r.frames for r in ranges)
    assert len(cache) == len(everything) // 16 and cache.nbytes > everything.nbytes

    def one_pass() -> list[bytes]:
        batches = list(cache)
        assert all(f.shape == (16, 1, 112, 112) and y.shape == (16,) for f, y in batches)
        return [f.numpy().tobytes() + bytes([int(y)]) for b in batches for f, y in zip(*b, strict=True)]

    first, second = one_pass(), one_pass()
    assert first != second and len(set(first)) == len(first)  # a new order, no frame twice in a pass
    expected = Counter(f.tobytes() + bytes([int(y)]) for f, y in zip(everything, labels, strict=True))
    assert Counter(first) <= expected  # every cached sample is a real (frame, label) of the pass
    again = FrameCache(source, batch_size=16, device="cpu", seed=3)
    assert torch.equal(next(iter(again))[0], next(iter(FrameCache(source, 16, seed=3)))[0])  # seeded


def _fake_wheel(path: Path, files: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return path


def test_wheelhouse_split_stage_join_and_install(tmp_path):
    rng = np.random.default_rng(0)
    big = _fake_wheel(tmp_path / "bigpkg-1.0-py3-none-any.whl",
                      {"nvidia/bigpkg/__init__.py": b"VALUE = 42\n", "nvidia/bigpkg/blob.bin": rng.bytes(3 << 20),
                       "bigpkg-1.0.dist-info/METADATA": b"Name: bigpkg\nVersion: 1.0\n"})
    small = _fake_wheel(tmp_path / "smallpkg-2.0-py3-none-any.whl",
                        {"nvidia/smallpkg.py": b"NAME = 'small'\n", "smallpkg-2.0.dist-info/METADATA": b"Name: s\n"})
    parts = wheelhouse.split(big, tmp_path / "parts", part_mib=1)
    assert len(parts) == 4 and all(p.stat().st_size <= 1 << 20 for p in parts)
    stash = tmp_path / "stash"
    # run 1 carries the small wheel and half of the parts: nothing joined yet, the gap is named
    (tmp_path / "run1").mkdir()
    for item in [small, *parts[:2], tmp_path / "parts" / f"{big.name}.parts.json"]:
        (tmp_path / "run1" / item.name).write_bytes(item.read_bytes())
    report = wheelhouse.stage(tmp_path / "run1", stash)
    assert report["joined"] == [] and "2 of 4 parts missing" in report["incomplete"][0]
    # run 2 carries the rest: joined, checked, parts removed
    report = wheelhouse.stage(tmp_path / "parts", stash)
    assert report["joined"] == [big.name] and (stash / big.name).read_bytes() == big.read_bytes()
    assert not list(stash.glob("*.part-*"))
    site = tmp_path / "site"
    assert sorted(wheelhouse.install(stash, site, use_pip=False)) == sorted([big.name, small.name])
    assert wheelhouse.install(stash, site, use_pip=False) == []  # once each
    probe = subprocess.run([sys.executable, "-c", "import nvidia.bigpkg, nvidia.smallpkg; "
                            "print(nvidia.bigpkg.VALUE, nvidia.smallpkg.NAME)"],
                           env={"PYTHONPATH": str(site)}, capture_output=True, text=True)
    assert probe.stdout.split() == ["42", "small"], probe.stderr  # both halves of the shared `nvidia` package


def test_wheelhouse_rejects_a_corrupt_part(tmp_path):
    big = _fake_wheel(tmp_path / "pkg-1.0-py3-none-any.whl", {"pkg/blob.bin": np.random.default_rng(1).bytes(2 << 20)})
    parts = wheelhouse.split(big, tmp_path / "parts", part_mib=1)
    parts[1].write_bytes(b"x" + parts[1].read_bytes()[1:])
    with pytest.raises(SystemExit, match="sha256 differs"):
        wheelhouse.stage(tmp_path / "parts", tmp_path / "stash")


def test_probe_reports_tier1_imports_without_dali_ray_wandb():
    """The GPU image lacks DALI, Ray, wandb and timm: the tier-1 path must import without them."""
    proc = subprocess.run([sys.executable, "scripts/gpu_probe.py", "--simulate-missing", "nvidia.dali,ray,wandb,timm"],
                          cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads(proc.stdout)
    assert report["packages"]["nvidia.dali"] is None and report["packages"]["torch"]
    imports = report["project_imports"]
    assert report["tier"] == (0 if not torch.cuda.is_available() else 1)
    needed = ["lightning_fer.model", "lightning_fer.module", "lightning_fer.callbacks", "lightning_fer.prepare",
              "lightning_fer.synth.dataset", "lightning_fer.predict", "lightning_fer.bench.train", "lightning_fer.cli",
              "call:lightning_fer.cli.build_parser"]
    assert {name: imports[name] for name in needed} == dict.fromkeys(needed, "ok")
    # Still blocked by `import nvidia.dali` in dali_pipelines.pipelines (its dataclasses are moving to a
    # DALI-free module): load_model's allow-list, the LightningCLI and the data module. Printed for the summary.
    print({k: v for k, v in imports.items() if v != "ok"})


def test_summary_from_junit_steps_and_bench(tmp_path):
    (tmp_path / "steps.tsv").write_text("probe\t0\t12\npytest-gpu\t1\t80\nbench-train\t0\t50\nbench-data\t124\t150\n")
    (tmp_path / "probe.json").write_text(json.dumps({"tier": 1, "devices": ["NVIDIA H200"], "python": "3.12.3",
                                                     "project_imports": {"a": "ok", "b": "ImportError: x"}}))
    (tmp_path / "junit.xml").write_text(
        '<testsuites><testsuite><testcase classname="tests.test_gpu_train" name="test_a" time="3.5">'
        '<properties><property name="step1_loss_rel_diff" value="0.004"/></properties></testcase>'
        '<testcase classname="tests.test_gpu_dali" name="test_b" time="0"><skipped message="needs DALI"/></testcase>'
        '<testcase classname="tests.test_gpu_predict" name="test_c" time="1"><failure message="boom"/></testcase>'
        '</testsuite></testsuites>')
    (tmp_path / "bench_train.json").write_text(json.dumps({
        "columns": ["fed by", "img/s"], "rows": [["in-memory tensors", 25000.0]], "ratio": None, "ratio_label": "",
        "notes": ["n1"]}))
    summary = gpu_summary.write(tmp_path)
    assert not summary["ok"] and summary["failed_steps"] == ["pytest-gpu", "bench-data"]
    assert summary["benchmarks"]["data"] is None  # timed out: reported, not dropped
    assert summary["failed_tests"] == ["tests.test_gpu_predict::test_c"]
    assert summary["tests"]["counts"] == {"passed": 1, "skipped": 1, "failed": 1}
    assert summary["measured"] == {"tests.test_gpu_train::test_a": {"step1_loss_rel_diff": 0.004}}
    text = (tmp_path / "summary.md").read_text()
    assert "| in-memory tensors | 25,000.0 |" in text and "`b`: ImportError: x" in text
    assert "## fer bench data\n\n(no result" in text
    assert json.loads((tmp_path / "summary.json").read_text())["tier"] == 1
