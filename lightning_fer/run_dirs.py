"""Run folders (``trainer.default_root_dir``): one training run each, never replaced by another.

:class:`RunFolder` owns every path and name inside a run folder (checkpoints/, best.ckpt, last.ckpt, SLURM's
``hpc_ckpt_N.ckpt``, reports/, metrics.csv, config.yaml, wandb_id.txt, epochs.jsonl, trial_done.json,
ray_workers.jsonl, scale_point.json): callbacks, the CLI, tune, Ray Train, scale and the loggers ask it.

A folder *holds a run* once it has a checkpoint: ``checkpoints/*.ckpt`` or a SLURM requeue's
``hpc_ckpt_N.ckpt``. A new `fer fit` into such a folder is refused unless it resumes (``--ckpt_path``) or asks
for a new run (``--new_run true``), which then trains in the first of ``<folder>-2``, ``<folder>-3``, ... that
holds no run yet.

Every DDP rank reaches the same answer without talking to the others: it depends only on which folders hold
checkpoints, and no rank writes a checkpoint before all ranks have started (the process group forms first).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from lightning_fer.errors import UserError

HPC_PREFIX = "hpc_ckpt_"  # Lightning's SLURM requeue checkpoint: <root>/hpc_ckpt_<N>.ckpt


@dataclass(frozen=True, init=False)
class RunFolder:
    """The layout of one run folder; every name inside it is spelled here and nowhere else."""

    root: Path
    BEST = "best"  # checkpoints/best.ckpt (BestCheckpoint's filename)
    LAST = "last"  # checkpoints/last.ckpt (Lightning's ModelCheckpoint.CHECKPOINT_NAME_LAST)

    def __init__(self, root: str | Path) -> None:
        object.__setattr__(self, "root", Path(root))

    @property
    def checkpoints(self) -> Path:
        """Where BestCheckpoint/LastCheckpoint write (not the logger's folder)."""
        return self.root / "checkpoints"

    @property
    def best_checkpoint(self) -> Path:
        """The lowest-val_loss weights (the paper's model selection): what `fer test`/predict read."""
        return self.checkpoints / f"{self.BEST}.ckpt"

    @property
    def last_checkpoint(self) -> Path:
        """The newest full training state (`--ckpt_path last`)."""
        return self.checkpoints / f"{self.LAST}.ckpt"

    def last_checkpoints(self) -> list[Path]:
        """last.ckpt and any versioned ``last-vN.ckpt`` Lightning may have written."""
        return sorted(self.checkpoints.glob(f"{self.LAST}*.ckpt"))

    def hpc_checkpoints(self) -> dict[int, Path]:
        """SLURM requeue checkpoints by their number N (files named otherwise are not Lightning's)."""
        found = {}
        for path in self.root.glob(f"{HPC_PREFIX}*.ckpt"):
            number = path.stem.removeprefix(HPC_PREFIX)
            if number.isdigit():
                found[int(number)] = path
        return found

    def next_hpc_checkpoint(self) -> Path:
        """``hpc_ckpt_<N+1>.ckpt`` after the highest: Lightning's naming, which `--ckpt_path last` reads."""
        return self.root / f"{HPC_PREFIX}{max(self.hpc_checkpoints(), default=0) + 1}.ckpt"

    def newer_hpc_checkpoint(self) -> Path | None:
        """The highest-numbered hpc_ckpt_N if it is newer than every ``checkpoints/last*.ckpt``, else None."""
        hpc = self.hpc_checkpoints()
        if not hpc:
            return None
        newest = hpc[max(hpc)]
        return newest if all(newest.stat().st_mtime > p.stat().st_mtime for p in self.last_checkpoints()) else None

    def all_checkpoints(self) -> list[Path]:
        """Every checkpoint the folder holds (checkpoints/*.ckpt and SLURM's hpc_ckpt_*), sorted."""
        return sorted([*self.checkpoints.glob("*.ckpt"), *self.root.glob(f"{HPC_PREFIX}*.ckpt")])

    @property
    def reports(self) -> Path:
        """`fer test` writes its Table 3, confusion PNG and metrics JSON here."""
        return self.root / "reports"

    def report(self, stage: str, kind: str) -> Path:
        """``reports/<stage>_<kind>``: kind ``metrics.json``, ``table3.md`` or ``confusion.png``."""
        return report_file(self.reports, stage, kind)

    @property
    def test_metrics(self) -> Path:
        return self.report("test", "metrics.json")

    def metrics_csv(self, subcommand: str = "fit") -> Path:
        """CSVLogger's file: fit logs to <root>/metrics.csv, test/validate to <root>/<subcommand>/metrics.csv."""
        return self.root / self.metrics_version(subcommand) / "metrics.csv"

    @staticmethod
    def metrics_version(subcommand: str | None) -> str:
        """CSVLogger's ``version`` folder: none for fit, the subcommand otherwise, so they never overwrite it."""
        return "" if subcommand == "fit" else (subcommand or "")

    @property
    def config(self) -> Path:
        """The resolved config LightningCLI saves (SaveConfigCallback's default name)."""
        return self.root / "config.yaml"

    @property
    def wandb_id(self) -> Path:
        """The folder's wandb run id: one wandb run per run folder (requeues, retries, test, validate)."""
        return self.root / "wandb_id.txt"

    @property
    def epochs(self) -> Path:
        """A trial's epoch reports, one JSON line each (tune/report.py appends, results and resume read)."""
        return self.root / "epochs.jsonl"

    @property
    def trial_done(self) -> Path:
        """Written when a Tune trial finished, so a resumed experiment replays it instead of training it again."""
        return self.root / "trial_done.json"

    @property
    def ray_workers(self) -> Path:
        """One JSON line per Ray Train rank (rank, world size, node, pid, placement group)."""
        return self.root / "ray_workers.jsonl"

    @property
    def ray_train(self) -> Path:
        """Ray Train's own state of the run's job (``RunConfig(storage_path=root, name="ray_train")``)."""
        return self.root / "ray_train"

    @property
    def fit_log(self) -> Path:
        """The output of a scaling point's `fer fit` (scale/backends.py runs it as a subprocess or Ray job)."""
        return self.root / "fit.log"

    @property
    def scale_point(self) -> Path:
        """What one point of a scaling study measured (scale/recorder.py)."""
        return self.root / "scale_point.json"


def report_file(reports: Path, stage: str, kind: str) -> Path:
    """An evaluation report's file in a reports folder (a run's reports/ or any other output folder)."""
    return reports / f"{stage}_{kind}"


def run_checkpoints(root: str | Path) -> list[Path]:
    """The checkpoints a run folder holds (best/last and SLURM's hpc_ckpt_N), sorted."""
    return RunFolder(root).all_checkpoints()


def holds_run(root: str | Path) -> bool:
    return bool(run_checkpoints(root))


def resume_args(root: str | Path) -> list[str]:
    """``--ckpt_path last`` when ``root`` holds a run (a retried trial, a rerun fold or demo continues it)."""
    return ["--ckpt_path", "last"] if holds_run(root) else []


def slurm_resumes(root: str | Path) -> bool:
    """Inside a SLURM job Lightning itself resumes from ``hpc_ckpt_N.ckpt`` when no ckpt_path is given (a requeue
    of a job submitted without one): such a fit continues its run rather than starting a new one."""
    from lightning_fabric.plugins.environments import SLURMEnvironment

    return SLURMEnvironment.detect() and any(Path(root).glob(f"{HPC_PREFIX}*.ckpt"))


def next_free_run_dir(root: str | Path) -> Path:
    """The first of ``<root>-2``, ``<root>-3``, ... that holds no run (it may exist without checkpoints)."""
    root = Path(root)
    index = 2
    while holds_run(root.with_name(f"{root.name}-{index}")):
        index += 1
    return root.with_name(f"{root.name}-{index}")


def fit_run_dir(root: str | Path, resuming: bool, new_run: bool) -> Path:
    """Where `fer fit` may train: ``root`` itself, or a new numbered folder beside it for ``new_run``.

    UserError (one line naming the folder) for a new fit into a folder that holds a run, and for
    ``new_run`` together with a checkpoint to resume (a requeue of such a job would start yet another folder).
    """
    root = Path(root)
    if new_run and resuming:
        raise UserError("--new_run true starts a new run, --ckpt_path resumes one: pass only one of them")
    if not holds_run(root):
        return root
    if new_run:
        return next_free_run_dir(root)
    if resuming or slurm_resumes(root):
        return root
    raise UserError(f"{root} already holds a run ({len(run_checkpoints(root))} checkpoint(s)); resume it with "
                    "--ckpt_path last, start a new one beside it with --new_run true, or pick another "
                    "--trainer.default_root_dir")
