"""The Lightning DataModule: manifest -> protocol splits -> DALI (or baseline) loaders, sharded per rank.

Loaders are built in ``setup()`` from the trainer's ranks (``shard_id = global_rank``,
``num_shards = world_size``, ``device_id = local device``); each rank's DALI file list then holds only its
own samples of the epoch (:mod:`dali_pipelines.epoch_order`), so the reader itself runs unsharded.
Lightning adds no DistributedSampler to these iterators.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Literal

import pytorch_lightning as pl
import torch

from dali_pipelines.epoch_order import DEFAULT_CHUNK_CLIPS
from dali_pipelines.spec import (
    MODEL_INPUT_SIDE,
    NVDEC_MIN_SIDE,
    Augmentation,
    FrameSampling,
    Normalization,
    NormalizeMode,
    PipelineSpec,
)
from lightning_fer.classes import CLASSES
from lightning_fer.data.identity import SplitIdentity, split_identity
from lightning_fer.data.splits import DEFAULT_PROTOCOL, ClipRange, Protocol, SplitConfig, describe, make_splits
from lightning_fer.data.validation import check_clip_geometry, check_clips_decode, check_manifest_rows, check_splits
from lightning_fer.errors import UserError

STAGE_NEEDS = {"fit": ("train", "val"), "validate": ("val",), "test": ("test",)}


class FERDataModule(pl.LightningDataModule):
    """Face clips from `fer prepare` as batches of N x 1 x 112 x 112 float frames and int64 labels (the centre of
    128 x 128 clips, or a random window with ``augmentation.random_crop``)."""

    def __init__(
        self,
        data_dir: str = "data/demo/prepared",  # output folder of `fer prepare` (manifest.csv, clips/)
        protocol: Protocol = DEFAULT_PROTOCOL,  # frame (paper) | video | subject (honest default)
        val_fraction: float = 0.15,  # share of groups (subjects, videos or frame segments)
        test_fraction: float = 0.15,
        num_folds: int | None = None,  # cross-validation folds over groups; None = one random split
        fold: int = 0,
        split_seed: int = 0,
        segment_frames: int = 5,  # frame protocol: frames per randomly assigned segment
        batch_size: int = 32,  # frames per device per step
        eval_batch_size: int | None = None,  # defaults to batch_size
        train_sampling: FrameSampling = FrameSampling(),  # evaluation always reads every frame once
        normalization: NormalizeMode = "unit",  # unit | standardize (per frame) | dataset (prepare.json stats)
        augmentation: Augmentation = Augmentation(),  # off by default, as in the paper
        loader: Literal["dali", "baseline"] = "dali",
        device: Literal["auto", "cpu", "gpu"] = "auto",  # where DALI preprocesses (and decodes, see decoder)
        decoder: Literal["cpu", "nvdec"] = "cpu",  # on a GPU: nvdec decodes 128-px clips there (slower, BENCHMARKS)
        num_threads: int = 2,  # DALI CPU threads per rank
        chunk_clips: int = DEFAULT_CHUNK_CLIPS,  # DALI: clips per pipeline; start-up indexes one chunk (0: all)
        num_workers: int = 2,  # baseline DataLoader workers per rank
        check_decode: bool = True,  # decode the first frame of every clip before training
        seed: int = 0,  # shuffle seed (epoch e uses seed + e)
        balanced_sampling: bool = False,  # repeat training ranges of rarer classes up to the largest class
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        if batch_size % train_sampling.sequence_length:
            raise UserError(f"data.batch_size {batch_size} must be a multiple of "
                            f"data.train_sampling.sequence_length {train_sampling.sequence_length}")
        self.split_config = SplitConfig(protocol, val_fraction, test_fraction, split_seed, segment_frames,
                                        num_folds, fold)
        self.splits: dict[str, list[ClipRange]] = {}
        self._loaders: dict[str, object] = {}
        self.identities: dict[str, SplitIdentity] = {}  # val/test: clip and subject of every reader entry
        self._tmp = tempfile.TemporaryDirectory(prefix="fer-dali-")
        self._geometry: tuple[int, int] | None = None
        self._geometry_source = ""
        self._prepare_info: tuple[dict | None, str] | None = None
        self._normalization: Normalization | None = None

    @property
    def num_classes(self) -> int:
        return len(CLASSES)

    @property
    def class_names(self) -> tuple[str, ...]:
        return CLASSES

    @property
    def protocol(self) -> str:
        return self.hparams.protocol

    def prepare_splits(self) -> dict[str, list[ClipRange]]:
        """Read and validate the manifest, then split it (no pipelines; cheap, usable without a trainer)."""
        from lightning_fer.prepare import read_manifest

        root = Path(self.hparams.data_dir)
        manifest = read_manifest(root)
        check_manifest_rows(manifest, root / "manifest.csv", root)
        self.splits = make_splits(manifest, self.split_config, clip_root=str(root.resolve()))
        return self.splits

    def setup(self, stage: str) -> None:
        if not self.splits:
            self.prepare_splits()
        needed = STAGE_NEEDS.get(stage, ("train", "val", "test"))
        check_splits(self.splits, self.protocol, needed)
        clip_size, _ = self.clip_geometry()
        if self.hparams.check_decode:
            check_clips_decode([r for s in needed for r in self.splits[s]], clip_size, self._geometry_source)
        if self.trainer is None or self.trainer.global_rank == 0:
            print(describe(self.splits, self.protocol))
            if self._ranks()[2] is not None and self.hparams.decoder == "nvdec" and clip_size < NVDEC_MIN_SIDE:
                print(f"{self.hparams.data_dir}: {clip_size}x{clip_size} clips are below NVDEC's smallest frame "
                      f"({NVDEC_MIN_SIDE}): decoding stays on the CPU (fer prepare --clip-size {NVDEC_MIN_SIDE} "
                      "makes clips the GPU decodes)")
        for split in needed:
            if split not in self._loaders:
                self._loaders[split] = self._make_loader(split)

    def _ranks(self) -> tuple[int, int, int | None]:
        trainer = self.trainer
        rank, world = (trainer.global_rank, trainer.world_size) if trainer is not None else (0, 1)
        device = self.hparams.device
        on_gpu = device == "gpu" or (device == "auto" and torch.cuda.is_available()
                                     and (trainer is None or trainer.strategy.root_device.type == "cuda"))
        if not on_gpu:
            return rank, world, None
        root = trainer.strategy.root_device if trainer is not None else torch.device("cuda", 0)
        return rank, world, root.index or 0

    def prepare_info(self) -> tuple[dict | None, str]:
        """The data folder's prepare.json (None and the reason when unreadable) and its path, read once: the
        loaders' normalization and the checkpoint record (FERModule.on_save_checkpoint) use this copy."""
        if self._prepare_info is None:
            from lightning_fer.checkpoint_record import prepare_info

            self._prepare_info = prepare_info(self.hparams.data_dir)
        return self._prepare_info

    def clip_geometry(self) -> tuple[int, int]:
        """(clip side, model input side) from the folder's prepare.json (112 and 112 for folders prepared
        before 128-pixel clips, or without the record)."""
        if self._geometry is None:
            from lightning_fer.prepare.manifest import PREPARE_INFO, clip_geometry, read_prepare_info

            path = Path(self.hparams.data_dir) / PREPARE_INFO
            info, _ = self.prepare_info()
            if info is None and path.is_file():
                read_prepare_info(self.hparams.data_dir)  # raises the reader's own error naming the file
            self._geometry = clip_geometry(info)
            self._geometry_source = str(path) if info is not None else f"{path} (missing; 112 assumed)"
            check_clip_geometry(*self._geometry, MODEL_INPUT_SIDE, self._geometry_source)
        return self._geometry

    def normalization(self) -> Normalization:
        """The normalization every loader of this fit applies (and the checkpoint records), computed once."""
        if self._normalization is None:
            self._normalization = self._read_normalization()
        return self._normalization

    def _read_normalization(self) -> Normalization:
        mode = self.hparams.normalization
        if mode != "dataset":
            return Normalization(mode)
        from lightning_fer.prepare.manifest import dataset_normalization, read_prepare_info

        info, source = self.prepare_info()
        if info is None:
            read_prepare_info(self.hparams.data_dir)  # raises the reader's own error naming the file
        return dataset_normalization(info, source)

    def _make_loader(self, split: str):
        train = split == "train"
        hp = self.hparams
        sampling = _as(FrameSampling, hp.train_sampling) if train else FrameSampling()
        batch = hp.batch_size if train else (hp.eval_batch_size or hp.batch_size)
        rank, world, device_id = self._ranks()
        ranges = self.splits[split]
        augmentation = _as(Augmentation, hp.augmentation) if train else Augmentation()
        if train and hp.balanced_sampling:
            from lightning_fer.data.balance import oversample_ranges

            ranges = oversample_ranges(ranges, self.num_classes, hp.seed)
        identity = None if train else self.identities.setdefault(split, split_identity(ranges))
        clip_size, input_size = self.clip_geometry()
        if hp.loader == "baseline":
            from lightning_fer.data.baseline import BaselineFrameLoader, ClipFrameDataset

            dataset = ClipFrameDataset(ranges, sampling, self.normalization(), shuffle=train, seed=hp.seed,
                                       shard_id=rank, num_shards=world, augmentation=augmentation,
                                       clip_ids=identity.range_clip if identity else None, input_size=input_size)
            return BaselineFrameLoader(dataset, batch // sampling.sequence_length, train, hp.num_workers,
                                       *self._progress_fns(train))
        from dali_pipelines.loader import DaliFrameLoader

        spec = PipelineSpec(  # evaluation: the reader's label is the entry index, mapped back by the loader
            entries=[(r.clip, i if identity else r.label, r.start, r.end) for i, r in enumerate(ranges)],
            file_list=str(Path(self._tmp.name) / f"{split}-rank{rank}.txt"),
            batch_size=batch // sampling.sequence_length, sampling=sampling, normalization=self.normalization(),
            augmentation=augmentation, shuffle=train, seed=hp.seed, clip_size=clip_size, input_size=input_size,
            shard_id=rank, num_shards=world, device_id=device_id, nvdec=hp.decoder == "nvdec",
            num_threads=hp.num_threads,
        )
        return DaliFrameLoader(spec, train, *self._progress_fns(train),
                               entry_table=identity.entry_table() if identity else None, chunk_clips=hp.chunk_clips)

    def _progress_fns(self, train: bool) -> tuple[Callable[[], int] | None, Callable[[], int] | None]:
        """The trainer's epoch, and (training) the batches its loop has processed in it: the loader's resume
        state must count those, not the batches Lightning's fetcher already drew one step ahead."""
        trainer = self.trainer
        if trainer is None:
            return None, None
        def processed() -> int:
            return trainer.fit_loop.epoch_loop.batch_progress.current.processed

        return (lambda: trainer.current_epoch), (processed if train else None)

    def train_dataloader(self):
        return self._loaders["train"]

    def val_dataloader(self):
        return self._loaders["val"]

    def test_dataloader(self):
        return self._loaders["test"]


def _as(cls, value):
    """Config values arrive as the dataclass, a dict or a Namespace depending on the caller."""
    if isinstance(value, cls):
        return value
    return cls(**(value if isinstance(value, dict) else vars(value)))
