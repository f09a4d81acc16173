"""LightningCLI for `fer fit|validate|test`: YAML configs, the model/data link, run-directory conventions.

- ``data.num_classes`` feeds ``model.num_classes`` (one source of truth).
- The resolved config is saved into the run directory (``trainer.default_root_dir``).
- One run per run directory: a new ``fer fit`` into a directory that holds checkpoints is refused unless it
  resumes (``--ckpt_path``) or asks for ``--new_run true`` (then ``<dir>-2``, ``<dir>-3``, ...; see
  lightning_fer.run_dirs). Nothing an earlier invocation wrote is deleted: metrics.csv is moved aside.
- wandb: one run per run directory (its id in ``<dir>/wandb_id.txt``); fit, requeues, test and validate log into it,
  named, grouped, typed and tagged as lightning_fer.wandb_runs says (docs/WANDB.md).
- ``fer test`` without ``--ckpt_path`` evaluates ``<default_root_dir>/checkpoints/best.ckpt``: the
  checkpoint with the lowest validation loss, the paper's model selection.
- Every run gets the report, sample-frame and SLURM-requeue callbacks (``trainer_defaults``), and ``--progress``
  (``auto``: a line every ``--progress_every_n_steps`` steps when stdout is not a terminal, as in SLURM
  jobs and Ray Tune trials; ``bar``: Lightning's bar; ``lines``: always lines).
- Configs are plain YAML (no ``${...}`` interpolation), so the parser mode is jsonargparse's default.
"""

from __future__ import annotations

import os
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path

from pytorch_lightning.callbacks import ProgressBar
from pytorch_lightning.cli import LightningCLI, SaveConfigCallback

from lightning_fer.callbacks import (
    LineProgressBar,
    SampleFrameLogger,
    SlurmRequeue,
    TestReportWriter,
)
from lightning_fer.callbacks.progress import ProgressMode, wants_lines
from lightning_fer.data.datamodule import FERDataModule
from lightning_fer.errors import UserError
from lightning_fer.module import FERModule
from lightning_fer.resources import resolve_config
from lightning_fer.run_dirs import RunFolder, fit_run_dir
from lightning_fer.wandb_runs import WandbOptions, WandbRunSummary, run_identity, top_level_values, wandb_options


class FERCLI(LightningCLI):
    def add_arguments_to_parser(self, parser) -> None:
        parser.link_arguments("data.num_classes", "model.num_classes", apply_on="instantiate")
        parser.add_argument("--wandb", type=bool | WandbOptions, default=False,
                            help="also log to wandb (offline automatically without credentials); "
                                 "--wandb.log_model true also uploads checkpoints/best.ckpt as a model artifact")
        parser.add_argument("--wandb_project", type=str, default="lightning-fer")
        parser.add_argument("--new_run", type=bool, default=False,
                            help="fit: when trainer.default_root_dir already holds a run, train a new one in the "
                                 "first free numbered folder beside it (runs/demo-2, ...) instead of refusing")
        parser.add_argument("--wandb_group", type=str | None, default=None,
                            help="wandb group (default: the run folder's parent's name); studies set tune/<name>, "
                                 "scale/<study>, cv/<name>, protocols/<name>")
        parser.add_argument("--wandb_job_type", type=str | None, default=None,
                            help="wandb job type (default: fit, or test/validate for a folder without a trained run); "
                                 "studies set trial, point, fold, protocol")
        parser.add_argument("--wandb_config", type=dict | None, default=None,
                            help="values shown at the top level of the wandb run's config (a trial's sampled values)")
        parser.add_argument("--progress", type=ProgressMode, default="auto",
                            help="auto: lines when stdout is not a terminal (SLURM, Ray Tune), else the bar; "
                                 "bar: Lightning's progress bar; lines: one line every progress_every_n_steps")
        parser.add_argument("--progress_every_n_steps", type=int, default=50,
                            help="training steps between two progress lines")

    def before_instantiate_classes(self) -> None:
        """`fer fit`: settle the run directory before anything is written or any DDP rank is started."""
        if self.subcommand != "fit":
            return
        config = self.config[self.subcommand]
        refuse_weights_only(config.get("ckpt_path"))
        root = Path(config.trainer.get("default_root_dir") or os.getcwd())
        chosen = fit_run_dir(root, resuming=bool(config.get("ckpt_path")), new_run=bool(config.get("new_run")))
        if chosen != root:
            config.trainer.default_root_dir = str(chosen)
            if launch_rank() == 0:
                print(f"{root} already holds a run: training a new run in {chosen}")

    def instantiate_trainer(self, **kwargs):
        """Default loggers write into the run directory: metrics.csv (+ wandb/) under default_root_dir."""
        config = self.config_init[self.subcommand] if self.subcommand else self.config_init
        extra_callbacks: list = []
        if config.trainer.get("logger") is None and "logger" not in kwargs:
            from pytorch_lightning.loggers import CSVLogger

            root = config.trainer.get("default_root_dir") or "runs/default"
            # fit logs to <root>/metrics.csv; test/validate to <root>/<subcommand>/ so they never overwrite it
            version = RunFolder.metrics_version(self.subcommand)
            keep_previous_metrics(RunFolder(root).metrics_csv(self.subcommand or ""))
            # CSVLogger warns that earlier files "will be deleted"; the only one it deletes, metrics.csv, was moved
            warnings.filterwarnings("ignore", message=r"Experiment logs directory .* exists and is not empty")
            loggers = [CSVLogger(save_dir=root, name="", version=version)]
            if options := wandb_options(config.get("wandb")):
                loggers.append(self._wandb_logger(root))
                extra_callbacks.append(WandbRunSummary(log_model=options.log_model))
            kwargs["logger"] = loggers
        callbacks = list(config.trainer.get("callbacks") or [])
        if (config.trainer.get("enable_progress_bar") is not False and wants_lines(config.get("progress"))
                and not any(isinstance(c, ProgressBar) for c in callbacks)):
            extra_callbacks.append(LineProgressBar(config.get("progress_every_n_steps")))
        if extra_callbacks:
            kwargs["callbacks"] = [*callbacks, *extra_callbacks]
        return super().instantiate_trainer(**kwargs)

    def _wandb_logger(self, root: str):
        """The run folder's one wandb run: named, grouped, typed and tagged, with the resolved config
        (lightning_fer.wandb_runs)."""
        import yaml

        from lightning_fer.loggers import FERWandbLogger

        config = self.config[self.subcommand] if self.subcommand else self.config
        identity = run_identity(root, self.subcommand, config.get("wandb_group"), config.get("wandb_job_type"),
                                config.get("data"))
        resolved = yaml.safe_load(self._parser(self.subcommand).dump(config, skip_none=False)) or {}
        run_config = {**resolved, **top_level_values(config.get("wandb_config"))}
        return FERWandbLogger(project=config.get("wandb_project"), save_dir=root, run_folder=root,
                              name=identity.name, group=identity.group, job_type=identity.job_type,
                              tags=identity.tags, config=run_config)

    def before_fit(self) -> None:
        """`--ckpt_path last` resumes from the newest state of this run directory: `hpc_ckpt_N.ckpt` (saved on
        SIGUSR1 by a SLURM requeue) when newer than `checkpoints/last.ckpt`, else last.ckpt.

        Lightning itself reads hpc_ckpt_N only when no ckpt_path is given, and `fer submit train` passes
        `--ckpt_path last`; `last` with no checkpoint at all still starts fresh (Lightning warns).
        """
        config = self.config_init[self.subcommand]
        if config.get("ckpt_path") != "last":
            return
        folder = RunFolder(self.trainer.default_root_dir)
        newer = folder.newer_hpc_checkpoint()
        last = folder.last_checkpoint
        if newer is not None:
            config["ckpt_path"] = str(newer)
            if self.trainer.is_global_zero:
                print(f"resuming from {newer} (the SLURM requeue checkpoint, newer than last.ckpt)")
        elif last.is_file():
            config["ckpt_path"] = str(last)

    def after_fit(self) -> None:
        finish_wandb_run()  # flushed and closed here: a Ray Train rank or Tune trial may be torn down right after

    def after_validate(self) -> None:
        finish_wandb_run()

    def after_test(self) -> None:
        finish_wandb_run()

    def before_test(self) -> None:
        self._default_to_best_checkpoint()

    def before_validate(self) -> None:
        self._default_to_best_checkpoint()

    def _default_to_best_checkpoint(self) -> None:
        config = self.config_init[self.subcommand]  # what LightningCLI passes to trainer.test/validate
        if not config.get("ckpt_path"):
            best = RunFolder(self.trainer.default_root_dir).best_checkpoint
            if not best.is_file():
                raise UserError(f"no --ckpt_path given and {best} does not exist: train first (fer fit) "
                                "or pass --ckpt_path")
            config["ckpt_path"] = str(best)
            print(f"evaluating the lowest-val_loss checkpoint {best}")


def launch_rank() -> int:
    """This process's global rank as the launcher's environment states it (0 before DDP starts other ranks)."""
    from lightning_fabric.utilities.rank_zero import rank_zero_only

    return getattr(rank_zero_only, "rank", 0)


def keep_previous_metrics(current: Path) -> Path | None:
    """Move an earlier ``metrics.csv`` aside (metrics.1.csv, ...): CSVLogger would overwrite it on a resume.

    Only global rank 0 (known from the launcher's environment before the trainer exists) moves it; the other
    ranks of a DDP job would race it for the same file.
    """
    if launch_rank() != 0 or not current.is_file():
        return None
    index = 1
    while current.with_name(f"{current.stem}.{index}{current.suffix}").exists():
        index += 1
    target = current.with_name(f"{current.stem}.{index}{current.suffix}")
    try:
        current.rename(target)
    except FileNotFoundError:  # another process of the same launch moved it first
        return None
    return target


def make_cli(args: Sequence[str], run: bool = True) -> FERCLI:
    os.environ.setdefault("WANDB_SILENT", "true")
    return FERCLI(
        FERModule, FERDataModule,
        args=list(args), run=run,
        save_config_callback=SaveConfigCallback,
        save_config_kwargs={"overwrite": True},
        trainer_defaults={"callbacks": [TestReportWriter(), SampleFrameLogger(), SlurmRequeue()]},
        auto_configure_optimizers=False,
    )


class _ConfigOnly(FERCLI):
    """The CLI's parser and defaults without instantiating anything (no model, trainer, logger or file)."""

    def instantiate_classes(self) -> None:
        pass


def resolved_fit_config(args: Sequence[str]):
    """The config `fer fit ARGS` would run with (jsonargparse Namespace: base YAML, overrides and defaults
    resolved by LightningCLI itself), for commands that need a config value before any run starts."""
    import logging

    seed_log = logging.getLogger("lightning_fabric.utilities.seed")
    level = seed_log.level
    seed_log.setLevel(logging.WARNING)  # LightningCLI seeds from the config and says so: not news here
    try:
        return _ConfigOnly(FERModule, FERDataModule, args=shipped_config_args(args), run=False,
                           auto_configure_optimizers=False).config
    finally:
        seed_log.setLevel(level)


def shipped_config_args(argv: Sequence[str]) -> list[str]:
    """``--config configs/X.yaml`` (or ``--config=...``) pointed at the shipped copy when the cwd has none."""
    out, after_flag = [], False
    for arg in argv:
        if after_flag:
            arg = resolve_config(arg)
        elif arg.startswith("--config="):
            arg = "--config=" + resolve_config(arg.removeprefix("--config="))
        out.append(arg)
        after_flag = arg == "--config"
    return out


def run_lightning_cli(argv: Sequence[str]) -> int:
    try:
        make_cli(shipped_config_args(argv))
    except UserError as err:
        print(f"fer {argv[0]}: error: {err}", file=sys.stderr)
        return 2
    finally:
        finish_wandb_run()
    return 0


def finish_wandb_run() -> None:
    """Close the wandb run of a finished fit/test (Lightning leaves it open), so that the next command of the same
    process (fer demo, fer cv) writes its folder's run as a separate process would."""
    wandb = sys.modules.get("wandb")
    if wandb is not None and getattr(wandb, "run", None) is not None:
        wandb.finish()


def refuse_weights_only(ckpt_path: str | None) -> None:
    """`fer fit --ckpt_path X` resumes training, which needs X's optimizer and loop state; best.ckpt holds weights
    only (BestCheckpoint), and Lightning's error for that comes as a traceback, so say it in one line first."""
    if not ckpt_path or not Path(ckpt_path).is_file():
        return  # "last"/"hpc" and missing paths: Lightning's own handling and messages
    import torch

    try:
        checkpoint = torch.load(ckpt_path, map_location="cpu", mmap=True, weights_only=False)
    except Exception as err:  # noqa: BLE001 - any unreadable file gets the same one-line error
        reason = str(err).splitlines()[0][:200]
        raise UserError(f"--ckpt_path {ckpt_path}: not a readable checkpoint ({reason})") from err
    if "optimizer_states" not in checkpoint:
        raise UserError(f"--ckpt_path {ckpt_path} holds model weights only (best.ckpt is saved that way), not the "
                        "training state a resume needs: resume with --ckpt_path last, or start a new run from these "
                        "weights with --model.init_from " + str(ckpt_path))
