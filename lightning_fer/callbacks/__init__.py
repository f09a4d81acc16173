"""Lightning callbacks of a `fer fit|test` run; everything a run writes goes under ``default_root_dir``.

checkpoints.py: best.ckpt (lowest val_loss) and last.ckpt (every epoch); seed.py: exact resume;
reports.py: the test report and wandb sample frames (added by the CLI to every run); progress.py: line
progress for SLURM and Ray Tune logs; requeue.py: SLURM requeue agreed by all ranks (added to every
run). Configs name them as ``lightning_fer.callbacks.<Name>``.
"""

from lightning_fer.callbacks.checkpoints import BestCheckpoint, LastCheckpoint, run_checkpoint_dir
from lightning_fer.callbacks.progress import LineProgressBar
from lightning_fer.callbacks.reports import SampleFrameLogger, TestReportWriter
from lightning_fer.callbacks.requeue import SlurmRequeue
from lightning_fer.callbacks.seed import EpochSeed

__all__ = ["BestCheckpoint", "EpochSeed", "LastCheckpoint", "LineProgressBar", "SampleFrameLogger",
           "SlurmRequeue", "TestReportWriter", "run_checkpoint_dir"]
