"""What a wandb dashboard will show, read back from the offline run files with wandb's own reader
(`wandb leet inspect --json`, tests/wandb_files.py): a 2-trial Tune grid of 2-worker (Ray Train, gloo) trials, a
2-point scaling study and a 2-fold cross-validation, all tiny, all with `--wandb true` offline.

Asserted for every run: name (its folder), group (the study), job_type, tags, the config keys (resolved config +
top-level values) and summary keys; and that the runs are exactly one per run folder plus one per study, at
world size 2 too. Run: pytest -m slow tests/test_wandb_dashboards.py (prints the tune grid's runs).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import yaml

from lightning_fer.cli import main
from tests.test_tune_workers import ray_local, tiny, tune  # noqa: F401 - ray_local is a fixture used below
from tests.wandb_files import read_runs

REPO = Path(__file__).resolve().parents[1]
RUN_SUMMARY = {"best/val_loss", "best/epoch", "best/val_clip_acc", "best/val_acc", "train/img_per_s", "global_batch",
               "world_size", "nodes"}
TEST_SUMMARY = {f"test/{m}{s}" for m in ("frame_accuracy", "clip_accuracy", "frame_balanced_accuracy")
                for s in ("", "_ci_low", "_ci_high")}
RESOLVED = {"trainer", "model", "data", "seed_everything", "wandb", "wandb_group", "wandb_job_type"}


def _scale_study(tmp: Path) -> Path:
    """A 2-point study (global batch 8 x LR rules linear and none) of one training step per point."""
    study = {"name": "dash", "base_config": str(REPO / "configs" / "demo.yaml"), "run_dir": str(tmp / "scale" / "dash"),
             "wandb": True, "reference_batch": 8, "reference_lr": 0.001, "max_per_device_batch": 8,
             "overrides": {"trainer.max_epochs": 1, "trainer.limit_train_batches": 1, "trainer.limit_val_batches": 1,
                           "trainer.log_every_n_steps": 1, "trainer.enable_progress_bar": False,
                           "trainer.accelerator": "cpu", "data.eval_batch_size": 32, "data.check_decode": False},
             "sweeps": [{"name": "batch", "global_batch": [8], "lr_rule": ["linear", "none"]}]}
    path = tmp / "dash.yaml"
    path.write_text(yaml.safe_dump(study))
    return path


@pytest.mark.slow
@pytest.mark.timeout(1800)  # 7.5 min on 2 idle cores, 12 min at load 12: 8 fits (2 of them 2-rank), 2 tests
def test_runs_are_named_grouped_typed_and_one_per_folder(small_prepared: Path, tmp_path: Path, ray_local):  # noqa: F811
    timings = {}
    start = time.monotonic()
    extra = [*tiny(small_prepared, steps=1, val_batches=1), "--wandb", "true"]
    assert tune(tmp_path, "grid", {"model.optimizer.init_args.lr": {"grid": [1.0e-4, 1.0e-3]}}, extra) == 0
    timings["tune: 2 trials x 2 workers"] = time.monotonic() - start

    start = time.monotonic()
    assert main(["scale", "run", str(_scale_study(tmp_path)), "--", "--data.data_dir", str(small_prepared)]) == 0
    timings["scale: 2 points"] = time.monotonic() - start

    start = time.monotonic()
    cv_dir = tmp_path / "cv" / "cvdash"
    assert main(["cv", "--config", str(REPO / "configs" / "demo.yaml"), "--folds", "2", "--run-dir", str(cv_dir),
                 "--", "--wandb", "true", "--data.protocol", "video", "--data.data_dir", str(small_prepared),
                 "--data.batch_size", "8", "--data.eval_batch_size", "32", "--trainer.limit_train_batches", "1",
                 "--trainer.limit_val_batches", "1", "--trainer.max_epochs", "1", "--progress", "lines"]) == 0
    timings["cv: 2 folds"] = time.monotonic() - start

    start = time.monotonic()
    runs = read_runs(tmp_path)
    timings["read back"] = time.monotonic() - start
    print("\n" + "\n".join(f"{k}: {v:.0f} s" for k, v in timings.items()))

    exp, scale = tmp_path / "runs" / "grid", tmp_path / "scale" / "dash"
    trials = sorted(p.parent for p in exp.glob("*/config.yaml"))
    points = sorted(p.parent for p in scale.glob("*/config.yaml"))
    folds = sorted(p.parent for p in cv_dir.glob("fold_*/config.yaml"))
    assert len(trials) == len(points) == len(folds) == 2
    studies = {exp: "tune/grid", scale: "scale/dash", cv_dir: "cv/cvdash"}
    expected = {**{t: ("tune/grid", "trial") for t in trials}, **{p: ("scale/dash", "point") for p in points},
                **{f: ("cv/cvdash", "fold") for f in folds}, **{s: (g, "study") for s, g in studies.items()}}

    # exactly one run per run folder (rank 1 of the 2-worker trials made none) plus one per study
    assert len(runs) == len(trials) + len(points) + len(folds) + len(studies)
    by_folder = {}
    for run_id, run in runs.items():
        [folder] = run["folders"]
        assert folder not in by_folder, f"two runs in {folder}"
        by_folder[folder] = run
        assert (folder / "wandb_id.txt").read_text().strip() == run_id
    assert set(by_folder) == set(expected)

    params_id = json.loads((small_prepared / "prepare.json").read_text())["params_id"]
    for folder, (group, job_type) in expected.items():
        run = by_folder[folder]
        assert (run["name"], run["group"], run["job_type"]) == (folder.name, group, job_type), folder
        summary, config = set(run["summary"]), set(run["config"])
        if job_type == "study":
            assert run["tags"] == [f"study={group.split('/')[0]}"]
            continue
        protocol = "video" if job_type == "fold" else "subject"
        assert run["tags"] == [f"protocol={protocol}", "loader=dali", f"params_id={params_id}"], folder
        assert summary >= RUN_SUMMARY, (folder, RUN_SUMMARY - summary)
        assert config >= RESOLVED and {"global_batch", "world_size", "nodes"} <= config, (folder, RESOLVED - config)
        assert run["config"]["trainer"]["default_root_dir"] == str(folder)

    for trial in trials:  # a 2-rank trial: its sampled lr at the top level, global batch = 2 x per-rank batch
        run = by_folder[trial]
        assert {"lr", "workers"} <= set(run["config"]) and run["config"]["workers"] == 2
        assert run["summary"]["world_size"] == 2 and run["summary"]["global_batch"] == 16
    for point in points:
        config = by_folder[point]["config"]
        assert {"lr", "lr_rule", "batch_size", "global_batch", "sweep"} <= set(config)
        assert config["global_batch"] == 8 and config["lr_rule"] in point.name
    for fold in folds:
        run = by_folder[fold]
        assert set(run["summary"]) >= TEST_SUMMARY, TEST_SUMMARY - set(run["summary"])
        assert run["config"]["fold"] == int(fold.name.split("_")[1]) and run["config"]["num_folds"] == 2
        assert run["fragments"] == 2  # fit and test, one run

    tune_study = by_folder[exp]["summary"]
    assert tune_study["trials"] == 2 and tune_study["best/trial"] in {t.name for t in trials}
    assert tune_study["tune/trials._type"] == "table-file" and tune_study["tune/curves._type"] == "image-file"
    scale_study = by_folder[scale]["summary"]
    assert scale_study["scale/table._type"] == "table-file" and scale_study["points"] == 2
    assert scale_study["scale/throughput_vs_devices._type"] == "image-file"
    cv_study = by_folder[cv_dir]["summary"]
    assert cv_study["cv/folds._type"] == "table-file" and cv_study["folds"] == 2
    assert {"cv/frame_accuracy", "cv/frame_accuracy_ci_low", "cv/frame_accuracy_ci_high"} <= set(cv_study)

    print("tune grid, read back with `wandb leet inspect --json`:")
    for folder in [exp, *trials]:
        run = by_folder[folder]
        keys = sorted(k for k in run["summary"] if not k.startswith("_") and "." not in k)
        print(json.dumps({"name": run["name"], "group": run["group"], "job_type": run["job_type"],
                          "tags": run["tags"], "summary_keys": keys}))
