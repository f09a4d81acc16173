"""DALI pipelines that turn face clips into model-ready frames: decode -> crop -> gray -> equalize -> normalize.

One graph serves both devices. On a CUDA machine DALI's GPU video reader decodes the clips with NVDEC and
every later step runs on the GPU; without CUDA the CPU reader decodes and the same steps run as CPU
operators with ``device_id=None``. NVDEC's smallest VP9 frame is 128 x 128 (``cuvidGetDecoderCaps``, which
DALI's GPU reader enforces), so clips from `fer prepare` are 128 x 128 and cropped to the model's 112 x 112
(the centre, or a random window per sequence in training); older 112 x 112 clips are decoded on the CPU and
copied to the GPU (``.gpu()``). ``build_pipeline`` is the single entry point; the train/eval difference is
shuffling, sampling and augmentation, all carried by :class:`PipelineSpec`.
"""

from __future__ import annotations

from collections.abc import Sequence

import nvidia.dali.math as dmath
from nvidia.dali import fn, pipeline_def, types
from nvidia.dali.pipeline import Pipeline

from dali_pipelines.reference import CONTRAST_CENTER, GRAY_WEIGHTS
from dali_pipelines.spec import Augmentation, Normalization, PipelineSpec
from lightning_fer.atomic_write import write_text

READER_NAME = "clips"


def build_pipeline(spec: PipelineSpec, lazy_init: bool = False) -> Pipeline:
    """Build (not yet run) a pipeline producing ``frames`` (F x 1 x H x W float32 per sample) and ``labels``.

    ``lazy_init``: the reader opens and indexes its clips at the first run, in DALI's threads, instead of in
    ``Pipeline.build()`` under the GIL (the chunked loader prepares the next chunk so while one is read)."""
    write_file_list(spec.entries, spec.file_list)

    @pipeline_def(batch_size=spec.batch_size, num_threads=spec.num_threads, device_id=spec.device_id,
                  seed=spec.seed, prefetch_queue_depth=spec.prefetch_queue_depth, exec_dynamic=True)
    def clip_pipeline():
        frames, labels = fn.experimental.readers.video(
            device="gpu" if spec.decodes_on_gpu else "cpu", file_list=spec.file_list, file_list_format="frames",
            file_list_include_end=False,
            sequence_length=spec.sampling.sequence_length, stride=spec.sampling.stride, step=spec.sampling.step,
            shard_id=spec.shard_id, num_shards=spec.num_shards, random_shuffle=spec.shuffle,
            initial_fill=256 if spec.shuffle else 1, seed=spec.seed, pad_last_batch=not spec.shuffle,
            stick_to_shard=True, name=READER_NAME, lazy_init=lazy_init,
        )
        if spec.device_id is not None and not spec.decodes_on_gpu:
            frames, labels = frames.gpu(), labels.gpu()
        if spec.augmentation.enabled:
            frames = augment(frames, spec.augmentation)
        frames = crop_to_input(frames, spec.clip_size, spec.input_size, spec.augmentation.random_crop)
        return preprocess(frames, spec.normalization), labels

    return clip_pipeline()


def write_file_list(entries: Sequence[tuple[str, int, int, int]], path: str) -> None:
    """The reader's file list, written atomically; DALI splits lines on whitespace, so paths may not hold any."""
    if len(entries) == 0:
        raise ValueError("no clips to read: the split is empty")
    lines = []
    for clip, label, start, end in entries:
        if any(ch.isspace() for ch in clip):
            raise ValueError(f"{clip}: DALI file lists cannot hold paths with whitespace; move or rename the data")
        if end <= start:
            raise ValueError(f"{clip}: empty frame range [{start}, {end})")
        lines.append(f"{clip} {int(label)} {int(start)} {int(end)}\n")
    write_text(path, "".join(lines))


def build_array_pipeline(batch_size: int, normalization: Normalization, device_id: int | None = None,
                         num_threads: int = 2) -> Pipeline:
    """The same preprocessing fed from memory (``fn.external_source`` named "rgb", FHWC uint8 per sample):
    for parity tests against the reference and for preprocessing frames decoded elsewhere."""

    @pipeline_def(batch_size=batch_size, num_threads=num_threads, device_id=device_id, exec_dynamic=True)
    def array_pipeline():
        frames = fn.external_source(name="rgb", layout="FHWC", dtype=types.UINT8,
                                    device="cpu" if device_id is None else "gpu")
        return preprocess(frames, normalization), fn.equalize(grayscale_eq1(frames))

    return array_pipeline()


def crop_to_input(frames, clip_size: int, input_size: int, random: bool):
    """The model's ``input_size`` window of FHWC frames of side ``clip_size``: the centre, or (``random``) one
    of the ``clip_size - input_size + 1`` positions per axis, equally likely, one draw per sequence (the
    reference's :func:`dali_pipelines.reference.crop_offsets` draws from the same set)."""
    room = clip_size - input_size
    if room == 0:
        return frames
    if random:
        positions = [k / room for k in range(room + 1)]  # DALI's anchor = position * room: every whole pixel
        x, y = fn.random.uniform(values=positions), fn.random.uniform(values=positions)
    else:
        x = y = 0.5 if room % 2 == 0 else (room // 2) / room
    return fn.crop(frames, crop=(input_size, input_size), crop_pos_x=x, crop_pos_y=y)


def preprocess(frames, norm: Normalization):
    """The paper's steps in order on FHWC uint8 RGB: eq. 1 gray -> equalize -> normalize -> FCHW float32."""
    equalized = fn.equalize(grayscale_eq1(frames))
    return fn.transpose(normalize(equalized, norm), perm=[0, 3, 1, 2], output_layout="FCHW")


def grayscale_eq1(frames):
    """The paper's equation 1 exactly (not DALI's BT.601 GRAY): FHWC uint8 RGB -> FHWC uint8 with C = 1.

    One ``coord_transform`` (a 1 x 3 matrix per pixel) in float32, then round half up: equal to the reference's
    ``to_gray`` on all 16,777,216 RGB triples (checked on the CPU), and 2.8x faster than casting the frames
    to float and combining three channel slices (7.7 -> 2.7 ms per 32 frames of 112 x 112 on 2 cores)."""
    gray = fn.coord_transform(frames, M=list(GRAY_WEIGHTS), dtype=types.FLOAT)
    return fn.cast(dmath.floor(gray + 0.5), dtype=types.UINT8)


def normalize(equalized, norm: Normalization):
    """Equalized gray FHWC uint8 -> float32 by mode; ``standardize`` uses each frame's own mean and std."""
    x = fn.cast(equalized, dtype=types.FLOAT)
    if norm.mode == "unit":
        return x * (1.0 / 255.0)
    if norm.mode == "dataset":
        return (x * (1.0 / 255.0) - norm.mean) / norm.std
    return fn.normalize(x, axes=[1, 2, 3], epsilon=norm.eps)


def augment(frames, aug: Augmentation):
    """Per-sequence random flip / rotation+scale about the frame's centre / brightness+contrast on FHWC uint8
    (one draw for all frames of a run); :func:`dali_pipelines.reference.augment` is the NumPy twin."""
    if aug.flip:
        frames = fn.flip(frames, horizontal=fn.random.coin_flip(probability=0.5))
    if aug.warps:
        angle = _uniform_around(0.0, aug.rotate_degrees)
        zoom = _uniform_around(1.0, aug.scale)
        shape = frames.shape(dtype=types.FLOAT)  # F, H, W, C (on the CPU, also for GPU frames)
        center = fn.stack(shape[2], shape[1]) * 0.5  # (x, y); DALI puts pixel centres at +0.5
        matrix = fn.transforms.combine(
            fn.transforms.rotation(angle=angle, center=center),
            fn.transforms.scale(scale=fn.stack(zoom, zoom), center=center),
        )
        frames = fn.warp_affine(frames, matrix=matrix, fill_value=0, inverse_map=False)
    if aug.recolors:
        frames = fn.brightness_contrast(frames, brightness=_uniform_around(1.0, aug.brightness),
                                        contrast=_uniform_around(1.0, aug.contrast),
                                        contrast_center=CONTRAST_CENTER, dtype=types.UINT8)
    return frames


def _uniform_around(center: float, spread: float):
    """U(center - spread, center + spread) per sample, or the constant when spread is 0 (DALI rejects [c, c))."""
    if spread <= 0:
        return fn.constant(fdata=center, shape=[])
    return fn.random.uniform(range=[center - spread, center + spread])
