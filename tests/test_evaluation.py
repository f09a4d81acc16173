"""lightning_fer.evaluation: exact clip-level, balanced and per-subject values on hand-made predictions;
bootstrap intervals that contain the estimate, narrow with more subjects and say what they resample."""

from __future__ import annotations

import json

import numpy as np
import pytest

from lightning_fer.evaluation import (
    BootstrapSettings,
    FramePredictions,
    balanced_accuracy,
    clip_level,
    confusion,
    evaluate,
    macro_f1,
)

# 3 classes; clip 0 (label 0, subject A) has 2 of 3 frames right but its mean probability says class 1.
PROBS = np.array([[.6, .3, .1], [.2, .7, .1], [.5, .4, .1],  # clip 0
                  [.1, .8, .1], [.1, .8, .1],  # clip 1
                  [.1, .1, .8],  # clip 2
                  [.1, .1, .8], [.9, .05, .05]])  # clip 3
LABELS = np.array([0, 0, 0, 1, 1, 2, 0, 0])
CLIPS = np.array([0, 0, 0, 1, 1, 2, 3, 3])
SUBJECTS = ["A", "A", "B", "B"]  # subject of clip 0..3


def test_confusion_balanced_accuracy_and_macro_f1_exact():
    cm = confusion(LABELS, PROBS.argmax(1), 3)
    assert cm.tolist() == [[3, 1, 1], [0, 2, 0], [0, 0, 1]]
    assert balanced_accuracy(cm) == pytest.approx((3 / 5 + 1 + 1) / 3)
    assert macro_f1(cm) == pytest.approx((6 / 8 + 4 / 5 + 2 / 3) / 3)  # 2tp / (support + predicted) per class


def test_macro_f1_averages_over_every_class_of_the_task():
    cm = np.array([[3, 1, 0], [0, 2, 0], [0, 0, 0]])  # class 2: neither a label nor a prediction
    assert macro_f1(cm) == pytest.approx((6 / 7 + 4 / 5 + 0) / 3)
    assert np.isnan(macro_f1(np.zeros((3, 3), np.int64)))


def test_balanced_accuracy_ignores_absent_classes_and_is_chance_for_majority_guessing():
    cm = np.array([[90, 0, 0], [10, 0, 0], [0, 0, 0]])  # always "class 0" on a 90/10 test set
    assert balanced_accuracy(cm) == pytest.approx(0.5)
    assert np.trace(cm) / cm.sum() == pytest.approx(0.9)


def test_clip_label_is_argmax_of_mean_frame_probabilities():
    clips = clip_level(PROBS, LABELS, CLIPS)
    assert clips.labels.tolist() == [0, 1, 2, 0]
    assert clips.preds.tolist() == [1, 1, 2, 0]
    assert clips.frames.tolist() == [3, 2, 1, 2]
    np.testing.assert_allclose(clips.probs[3], [.5, .075, .425])


def test_clip_with_mixed_labels_is_rejected():
    with pytest.raises(ValueError, match="different labels"):
        clip_level(PROBS[:2], np.array([0, 1]), np.array([0, 0]))


def test_evaluate_exact_values_and_json():
    summary = evaluate(FramePredictions(PROBS, LABELS, CLIPS, SUBJECTS, clip_names=["a", "b", "c", "d"]), 3)
    data = json.loads(json.dumps(summary.to_dict()))  # JSON-able
    m = data["metrics"]
    assert m["frame_accuracy"]["value"] == pytest.approx(6 / 8)
    assert m["clip_accuracy"]["value"] == pytest.approx(3 / 4)
    assert m["clip_balanced_accuracy"]["value"] == pytest.approx((1 / 2 + 1 + 1) / 3)
    assert m["clip_macro_f1"]["value"] == pytest.approx((2 / 3 + 2 / 3 + 1) / 3)
    assert data["clip_confusion_matrix"] == [[1, 1, 0], [0, 1, 0], [0, 0, 1]]
    assert data["per_subject"] == {
        "A": {"frames": 5, "frame_accuracy": pytest.approx(4 / 5), "clips": 2, "clip_accuracy": 0.5},
        "B": {"frames": 3, "frame_accuracy": pytest.approx(2 / 3), "clips": 2, "clip_accuracy": 1.0},
    }
    assert (data["frames"], data["clips"], data["subjects"]) == (8, 4, 2)
    assert data["per_clip"][0] == {"clip": "a", "subject": "A", "label": 0, "predicted": 1, "frames": 3}
    # 2 subjects < 5: the interval resamples the 4 clips, and the report says so
    assert data["bootstrap"]["unit"] == "clip" and data["bootstrap"]["groups"] == 4
    text = summary.markdown(("x", "y", "z"))
    assert "resample 4 clips (only 2 subject(s), fewer than 5" in text
    assert "| clip accuracy | 75.00 |" in text and "| A | 5 | 80.00 | 2 | 50.00 |" in text


def _subjects_run(subjects: int, seed: int = 0) -> FramePredictions:
    """``subjects`` children, 2 clips of 10 frames each; child k gets a fixed share of frames right."""
    probs, labels, clips, owners = [], [], [], []
    right_share = [0.5, 0.9, 0.7, 1.0, 0.6, 0.8]
    for s in range(subjects):
        for c in range(2):
            label = (s + c) % 3
            right = round(10 * right_share[s % len(right_share)])
            for f in range(10):
                p = np.full(3, 0.1)
                p[label if f < right else (label + 1) % 3] = 0.8
                probs.append(p)
                labels.append(label)
                clips.append(len(owners))
            owners.append(f"S{s}")
    return FramePredictions(np.array(probs), np.array(labels), np.array(clips), owners)


def test_bootstrap_contains_estimate_narrows_with_subjects_and_is_seeded():
    few, many = evaluate(_subjects_run(6), 3).to_dict(), evaluate(_subjects_run(60), 3).to_dict()
    for data in (few, many):
        assert data["bootstrap"]["unit"] == "subject"
        for key in ("frame_accuracy", "frame_balanced_accuracy", "frame_macro_f1"):
            low, high = data["metrics"][key]["ci"]
            assert low <= data["metrics"][key]["value"] <= high
    assert few["metrics"]["frame_accuracy"]["value"] == pytest.approx(many["metrics"]["frame_accuracy"]["value"])
    width = {n: d["metrics"]["frame_accuracy"]["ci"][1] - d["metrics"]["frame_accuracy"]["ci"][0]
             for n, d in ((6, few), (60, many))}
    assert 0 < width[60] < width[6] / 2  # ~1/sqrt(10) as wide
    assert evaluate(_subjects_run(6), 3).to_dict() == few  # same seed, same interval
    other = evaluate(_subjects_run(60), 3, BootstrapSettings(seed=1)).to_dict()
    assert other["metrics"]["frame_balanced_accuracy"]["ci"] != many["metrics"]["frame_balanced_accuracy"]["ci"]
    assert "resample 6 subjects (6 subjects >= 5" in evaluate(_subjects_run(6), 3).markdown("abc")


def test_report_and_wandb_carry_the_evaluation(tmp_path):
    from lightning_fer.loggers import FERWandbLogger, log_report
    from lightning_fer.reports import write_eval_report

    summary = evaluate(FramePredictions(PROBS, LABELS, CLIPS, SUBJECTS), 3)
    cm = confusion(LABELS, PROBS.argmax(1), 3)
    report = write_eval_report(cm, ("x", "y", "z"), tmp_path / "reports", "test", protocol="subject",
                               evaluation=summary)
    saved = json.loads((tmp_path / "reports" / "test_metrics.json").read_text())
    assert saved["evaluation"] == json.loads(json.dumps(summary.to_dict()))
    assert saved["accuracy"] == pytest.approx(0.75) and saved["confusion_matrix"] == cm.tolist()  # kept as before
    table = (tmp_path / "reports" / "test_table3.md").read_text()
    assert table.index("| Average |") < table.index("Clip-level confusion") < table.index("Per-subject accuracy")
    logger = FERWandbLogger(save_dir=str(tmp_path), offline=True, name="t")
    log_report([logger], report)
    logger.experiment.finish()
    logged = b"".join(p.read_bytes() for p in tmp_path.glob("wandb/offline-run-*/*.wandb"))
    for key in (b"test/clip_accuracy", b"test/frame_balanced_accuracy_ci_low", b"test/per_subject", b"test/table3"):
        assert key in logged
