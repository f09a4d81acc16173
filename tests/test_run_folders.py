"""Run folders keep their runs, and checkpoints travel: real tiny `fer fit` runs (2 batches of 8, wandb offline).

- a second new fit into a folder that holds a run is refused with one line and changes nothing (file hashes);
  ``--new_run true`` trains in the next numbered folder instead;
- one wandb run per folder: the id after a requeue (``--ckpt_path last`` into the same folder) and a `fer test`
  equals the id before;
- best.ckpt is weights-only (smaller than last.ckpt) and carries the ``fer`` record; `fer predict` gives the same
  labels with the training data folder deleted and ``nvidia.dali`` unimportable;
- a checkpoint without the record (an older one) whose data folder is gone: a warning names the missing crop
  parameters, and dataset normalization without statistics is a clear error.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pytest
import torch

from lightning_fer.cli import main

TINY = ["--config", "configs/demo.yaml", "--data.batch_size", "8", "--data.eval_batch_size", "32",
        "--trainer.limit_train_batches", "2", "--trainer.limit_val_batches", "1", "--trainer.max_epochs", "1",
        "--progress", "lines"]


def fit(data: Path, run: Path, *extra: str) -> int:
    return main(["fit", *TINY, "--data.data_dir", str(data), "--trainer.default_root_dir", str(run), *extra])


def hashes(folder: Path) -> dict[str, str]:
    """Every file of a run folder (not wandb's links to its process-wide service log)."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file() and not p.is_symlink()}


def offline_run_ids(run: Path) -> set[str]:
    return {p.name.rsplit("-", 1)[-1] for p in (run / "wandb").glob("offline-run-*")}


@pytest.fixture(scope="module")
def run(small_prepared: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run trained on a private copy of small_prepared with dataset normalization (statistics that matter),
    logging to wandb offline; the copy is deleted by the predict test."""
    root = tmp_path_factory.mktemp("run-folders")
    data = root / "data"
    shutil.copytree(small_prepared, data)
    assert fit(data, root / "run", "--wandb", "true", "--data.normalization", "dataset") == 0
    return root / "run"


def test_second_fit_into_a_run_folder_is_refused_and_changes_nothing(run: Path, capsys):
    before = hashes(run)
    assert any(name.startswith("checkpoints/") for name in before)
    capsys.readouterr()
    assert fit(run.parent / "data", run, "--wandb", "true") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith(f"fer fit: error: {run} already holds a run")
    assert "--ckpt_path last" in err[-1] and "--new_run true" in err[-1]
    assert hashes(run) == before  # nothing of the first run changed, nothing was added


def test_resuming_from_weights_only_best_ckpt_is_one_line_and_changes_nothing(run: Path, capsys):
    before = hashes(run)
    capsys.readouterr()
    best = run / "checkpoints" / "best.ckpt"
    assert fit(run.parent / "data", run, "--ckpt_path", str(best)) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith(f"fer fit: error: --ckpt_path {best} holds model weights only"), err
    assert "--ckpt_path last" in err[-1] and f"--model.init_from {best}" in err[-1]
    assert hashes(run) == before


def test_best_checkpoint_is_weights_only_smaller_and_self_contained(run: Path):
    best_path, last_path = run / "checkpoints" / "best.ckpt", run / "checkpoints" / "last.ckpt"
    best = torch.load(best_path, map_location="cpu", weights_only=False)
    last = torch.load(last_path, map_location="cpu", weights_only=False)
    assert "optimizer_states" not in best and "callbacks" not in best and "lr_schedulers" not in best
    assert last["optimizer_states"] and last["callbacks"]  # resuming needs the full state
    assert best_path.stat().st_size < 0.5 * last_path.stat().st_size  # AdamW keeps two moments per weight
    prepare = json.loads((run.parent / "data" / "prepare.json").read_text())
    record = best["fer"]
    assert record == last["fer"]
    assert record["classes"] == ["angry", "disgust", "fear", "happy", "sad", "surprise"]
    assert record["normalization"]["mode"] == "dataset"
    assert record["normalization"]["mean"] == pytest.approx(prepare["stats"]["gray_mean"])
    assert record["normalization"]["std"] == pytest.approx(prepare["stats"]["gray_std"])
    assert record["params"] == prepare["params"] and record["params_id"] == prepare["params_id"]
    assert record["model"] == {"num_classes": 6, "hidden_size": 512, "dropout": 0.25}


PREDICT_WITHOUT_DALI = textwrap.dedent("""
    import sys
    sys.modules["nvidia.dali"] = None  # any `import nvidia.dali...` now raises ImportError
    from lightning_fer.cli import main
    code = main(["predict", "--ckpt", sys.argv[1], "--input", sys.argv[2], "--out", sys.argv[3], "--no-progress",
                 "--max-frames", "12"])
    leaked = sorted(k for k, v in sys.modules.items() if k.startswith("nvidia.dali") and v is not None)
    sys.exit(code or (3 if leaked else 0))
""")


def test_predict_needs_neither_the_training_data_nor_dali(run: Path, small_prepared: Path, tmp_path: Path):
    best = run / "checkpoints" / "best.ckpt"
    data = run.parent / "data"
    source = sorted((small_prepared.parent / "raw" / "videos").glob("*.*"))[0]
    video = tmp_path / f"clip{source.suffix}"
    shutil.copy(source, video)
    assert main(["predict", "--ckpt", str(best), "--input", str(video), "--out", str(tmp_path / "before"),
                 "--no-progress", "--max-frames", "12"]) == 0
    shutil.rmtree(data)
    result = subprocess.run([sys.executable, "-c", PREDICT_WITHOUT_DALI, str(best), str(video),
                             str(tmp_path / "after")], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "warning" not in result.stderr
    before = pd.read_csv(tmp_path / "before" / "clip.csv", keep_default_na=False)
    after = pd.read_csv(tmp_path / "after" / "clip.csv", keep_default_na=False)
    assert len(after) == 12 and (after["label"] != "no face").sum() >= 6  # a face on most frames
    assert after["label"].tolist() == before["label"].tolist()
    pd.testing.assert_frame_equal(after.filter(like="p_"), before.filter(like="p_"))
    meta = json.loads((tmp_path / "after" / "clip.json").read_text())
    assert meta["params_source"].endswith("prepare.json")  # recorded at training, read from the checkpoint


def test_older_checkpoint_without_record_names_what_is_missing(run: Path, tmp_path: Path, capsys):
    from lightning_fer.errors import UserError
    from lightning_fer.predict.checkpoint import spec_from_checkpoint

    checkpoint = torch.load(run / "checkpoints" / "best.ckpt", map_location="cpu", weights_only=False)
    del checkpoint["fer"]
    data_hp = checkpoint["datamodule_hyper_parameters"]
    gone = tmp_path / "gone"
    with pytest.raises(UserError, match="dataset normalization.*gray_mean"):
        spec_from_checkpoint({**checkpoint, "datamodule_hyper_parameters": {**data_hp, "data_dir": str(gone)}})
    capsys.readouterr()
    spec = spec_from_checkpoint({**checkpoint, "datamodule_hyper_parameters": {
        **data_hp, "data_dir": str(gone), "normalization": "unit"}}, "old.ckpt")
    warning = capsys.readouterr().err.strip().splitlines()
    assert len(warning) == 1 and "old.ckpt records no crop-pass parameters" in warning[0]
    assert str(gone / "prepare.json") in warning[0]
    assert spec.params_source.startswith("defaults")


@pytest.mark.slow  # ~3 min: three fits (one a separate process, as a requeue is) and a test
def test_new_run_and_requeue_keep_one_wandb_run_per_folder(small_prepared: Path, tmp_path: Path, capsys):
    first = tmp_path / "demo"
    assert fit(small_prepared, first, "--wandb", "true") == 0
    run_id = (first / "wandb_id.txt").read_text().strip()
    assert offline_run_ids(first) == {run_id}
    before = hashes(first)
    capsys.readouterr()
    # a fresh run beside it: a numbered folder, said in one line, with its own wandb run
    assert fit(small_prepared, first, "--wandb", "true", "--new_run", "true") == 0
    second = tmp_path / "demo-2"
    assert f"{first} already holds a run: training a new run in {second}" in capsys.readouterr().out
    assert (second / "checkpoints" / "best.ckpt").is_file()
    assert hashes(first) == before
    assert (second / "wandb_id.txt").read_text().strip() not in ("", run_id)
    # a requeue (a new process resuming into the same folder) and a test log into the folder's one run
    requeue = subprocess.run([sys.executable, "-m", "lightning_fer.cli", "fit", *TINY, "--data.data_dir",
                              str(small_prepared), "--trainer.default_root_dir", str(first), "--wandb", "true",
                              "--ckpt_path", "last", "--trainer.max_epochs", "2"], capture_output=True, text=True)
    assert requeue.returncode == 0, requeue.stderr[-3000:]
    assert torch.load(first / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)["epoch"] == 1
    assert main(["test", *TINY, "--wandb", "true", "--data.data_dir", str(small_prepared),
                 "--trainer.default_root_dir", str(first)]) == 0
    assert (first / "wandb_id.txt").read_text().strip() == run_id
    assert len(list((first / "wandb").glob("offline-run-*"))) == 3 and offline_run_ids(first) == {run_id}
    assert (first / "metrics.1.csv").is_file()  # the first fit's metrics were moved aside, not deleted
    # --new_run together with a checkpoint to resume is contradictory
    assert fit(small_prepared, first, "--new_run", "true", "--ckpt_path", "last") == 2
    assert "pass only one of them" in capsys.readouterr().err


def test_run_folder_rule_numbers_resumes_and_slurm_requeues(tmp_path: Path, monkeypatch):
    from lightning_fer.errors import UserError
    from lightning_fer.run_dirs import fit_run_dir, resume_args

    root = tmp_path / "demo"
    assert fit_run_dir(root, resuming=False, new_run=False) == root and resume_args(root) == []
    (root / "checkpoints").mkdir(parents=True)
    (root / "config.yaml").write_text("x")  # a folder without checkpoints holds no run yet
    assert fit_run_dir(root, resuming=False, new_run=True) == root
    (root / "checkpoints" / "best.ckpt").write_bytes(b"")
    (tmp_path / "demo-2").mkdir()
    (tmp_path / "demo-2" / "hpc_ckpt_1.ckpt").write_bytes(b"")  # a requeued numbered run holds a run too
    (tmp_path / "demo-3").mkdir()  # a crashed start without checkpoints: free
    assert fit_run_dir(root, resuming=False, new_run=True) == tmp_path / "demo-3"
    assert fit_run_dir(root, resuming=True, new_run=False) == root
    assert resume_args(root) == ["--ckpt_path", "last"]
    with pytest.raises(UserError, match=f"^{root} already holds a run"):
        fit_run_dir(root, resuming=False, new_run=False)
    # inside a SLURM job Lightning resumes hpc_ckpt_N by itself: a requeue without --ckpt_path is allowed
    monkeypatch.setenv("SLURM_NTASKS", "1")
    monkeypatch.setenv("SLURM_JOB_NAME", "train")
    assert fit_run_dir(tmp_path / "demo-2", resuming=False, new_run=False) == tmp_path / "demo-2"
    with pytest.raises(UserError):
        fit_run_dir(root, resuming=False, new_run=False)  # no hpc checkpoint there: still a new fit


def test_submit_train_refuses_new_run(capsys):
    assert main(["submit", "train", "--config", "configs/demo.yaml", "--dry-run", "--", "--new_run", "true"]) == 2
    assert "--new_run cannot be submitted" in capsys.readouterr().err
