"""`fer demo`: the whole pipeline on the embedded synthetic dataset, CPU-sized.

synth -> prepare (Haar crop pass) -> fit (DALI -> ResNet-50, best val_loss kept) -> test (Table 3)
-> predict (per-frame labels on one video of a held-out test child, annotated).
Each step is resumable: rerunning skips a dataset or clips that already exist, and resumes the training run in
--run-dir (`--ckpt_path last`: a finished run trains no further, then test and predict run again on it).
`--new-run` trains a new run beside it instead (runs/demo-2, runs/demo-3, ...).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from lightning_fer.resources import resolve_config
from lightning_fer.run_dirs import RunFolder

HELP = "run synth -> prepare -> fit -> test on the synthetic demo data"


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("demo", help=HELP)
    parser.add_argument("--out", default="data/demo", help="dataset folder (raw/ and prepared/ inside)")
    parser.add_argument("--run-dir", default="runs/demo", help="training run directory")
    parser.add_argument("--config", type=resolve_config, default="configs/demo.yaml",
                        help="LightningCLI config for fit/test")
    parser.add_argument("--workers", type=int, default=None, help="processes for synth and prepare")
    parser.add_argument("--skip-train", action="store_true", help="stop after the crop pass")
    parser.add_argument("--new-run", action="store_true",
                        help="when --run-dir already holds a run, train a new one in the next free RUN_DIR-N "
                             "(default: resume it)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from lightning_fer.errors import UserError
    from lightning_fer.lightning_cli import run_lightning_cli
    from lightning_fer.prepare import PrepareParams, run_prepare
    from lightning_fer.run_dirs import holds_run, next_free_run_dir, resume_args
    from lightning_fer.synth.dataset import generate_dataset

    out, started = Path(args.out), time.perf_counter()
    raw, prepared = out / "raw", out / "prepared"
    if (raw / "synth.json").is_file():
        print(f"[1/5] synthetic dataset already in {raw} (delete it to regenerate)")
    else:
        print(f"[1/5] generating the synthetic demo dataset into {raw}")
        print(generate_dataset(raw, workers=args.workers).format())
    print(f"[2/5] Haar face-crop pass -> {prepared}")
    summary = run_prepare(raw / "videos", prepared, PrepareParams(), workers=args.workers)
    print(summary.report())
    if not summary.ok:
        raise UserError("the crop pass produced nothing usable; see the failures above")
    if args.skip_train:
        return 0
    run_dir = Path(args.run_dir)
    if holds_run(run_dir):
        if args.new_run:
            run_dir = next_free_run_dir(run_dir)
            print(f"{args.run_dir} holds an earlier demo run: training a new one in {run_dir} (--new-run)")
        else:
            print(f"{run_dir} holds an earlier demo run: resuming it (--new-run trains a new one beside it)")
    common = ["--config", args.config, "--data.data_dir", str(prepared), "--trainer.default_root_dir", str(run_dir)]
    fit = ["fit", *common, *resume_args(run_dir)]
    print(f"[3/5] training (fer {' '.join(fit)})")
    if (code := run_lightning_cli(fit)) != 0:
        return code
    print("[4/5] testing the lowest-val_loss checkpoint (fer test)")
    if (code := run_lightning_cli(["test", *common])) != 0:
        return code
    report = RunFolder(run_dir).report("test", "table3.md")
    video = _held_out_video(prepared, Path(args.config))
    predictions = run_dir / "predictions"
    print(f"[5/5] fer predict on {video} (a child the model never saw) -> {predictions}")
    from lightning_fer.cli import main as fer_main

    if (code := fer_main(["predict", "--ckpt", str(RunFolder(run_dir).best_checkpoint),
                          "--input", str(video), "--out", str(predictions), "--annotate", "--no-progress"])) != 0:
        return code
    print(f"\nDemo finished in {time.perf_counter() - started:.0f} s. Report: {report}\n")
    print(report.read_text())
    return 0


def _held_out_video(prepared: Path, config: Path) -> Path:
    """Source video of the first test-split clip under the config's split settings."""
    from lightning_fer.data.datamodule import FERDataModule
    from lightning_fer.lightning_cli import resolved_fit_config
    from lightning_fer.prepare import read_manifest

    data = resolved_fit_config(["--config", str(config), "--data.data_dir", str(prepared)]).data
    split_keys = ("protocol", "val_fraction", "test_fraction", "split_seed", "segment_frames", "num_folds", "fold")
    test = FERDataModule(data_dir=str(prepared), **{k: data[k] for k in split_keys}).prepare_splits()["test"]
    manifest = read_manifest(prepared).set_index("video_id")
    return Path(manifest.loc[test[0].video_id, "source"])
