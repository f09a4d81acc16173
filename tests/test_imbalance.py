"""Class imbalance options: inverse-frequency loss weights change the gradient exactly as computed by hand;
balanced sampling repeats rarer-class ranges (both loaders read the same ranges)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lightning_fer.data.balance import class_frames, class_weights, oversample_ranges
from lightning_fer.data.splits import ClipRange
from lightning_fer.module import FERModule


def _ranges(frames_per_class: dict[int, list[int]]) -> list[ClipRange]:
    return [ClipRange(f"c{label}_{i}.mp4", label, 0, n, f"S{i}", f"v{label}_{i}")
            for label, lengths in frames_per_class.items() for i, n in enumerate(lengths)]


def test_class_weights_are_inverse_frequency():
    counts = class_frames(_ranges({0: [60, 30], 1: [30], 2: [10]}), 4)
    assert counts.tolist() == [90, 30, 10, 0]
    np.testing.assert_allclose(class_weights(counts), [130 / (3 * 90), 130 / (3 * 30), 130 / (3 * 10), 0.0])


def test_weighted_loss_gradient_matches_hand_computation():
    module = FERModule(num_classes=3, class_weighted_loss=True)
    weights = torch.tensor([0.5, 1.0, 3.0])
    module.class_weights.copy_(weights)
    logits = torch.tensor([[2.0, 0.5, -1.0], [0.1, 0.2, 0.3], [-0.5, 1.5, 0.0], [1.0, 1.0, 1.0]], requires_grad=True)
    labels = torch.tensor([0, 2, 1, 2])
    module.loss(logits, labels, "train").backward()
    # d/dlogits of sum_i w_yi * CE_i / sum_i w_yi = w_yi * (softmax_i - onehot_i) / sum w
    probs = torch.softmax(logits.detach(), dim=1)
    w = weights[labels]
    expected = w[:, None] * (probs - torch.nn.functional.one_hot(labels, 3)) / w.sum()
    torch.testing.assert_close(logits.grad, expected, rtol=1e-6, atol=1e-7)
    plain = (probs - torch.nn.functional.one_hot(labels, 3)) / len(labels)
    assert not torch.allclose(logits.grad, plain)  # the weighting really changed the gradient
    logits.grad = None
    module.loss(logits, labels, "val").backward()  # validation/test loss stays plain cross-entropy
    torch.testing.assert_close(logits.grad, plain)
    assert FERModule(num_classes=3).class_weights is None  # off by default


def test_oversampling_balances_class_frames_deterministically():
    ranges = _ranges({0: [50, 50, 50], 1: [20], 2: [10, 15]})
    balanced = oversample_ranges(ranges, 6, seed=0)
    assert balanced[:len(ranges)] == ranges  # the originals first, extras appended
    counts = class_frames(balanced, 6)
    assert counts[0] == 150 and 150 <= counts[1] < 170 and 150 <= counts[2] < 165 and counts[3:].sum() == 0
    assert oversample_ranges(ranges, 6, seed=0) == balanced
    assert set(balanced) == set(ranges)  # only repeats, never new data


@pytest.mark.parametrize("loader", ["dali", "baseline"])
def test_balanced_sampling_reaches_both_loaders(small_prepared, loader):
    from lightning_fer.data.datamodule import FERDataModule

    dm = FERDataModule(data_dir=str(small_prepared), balanced_sampling=True, loader=loader, check_decode=False,
                       num_workers=0, batch_size=4)
    train = dm.prepare_splits()["train"]
    happy = next(r for r in train if r.label == 3)
    dm.splits["train"] = [*train, happy, happy, happy]  # happy x4: a skewed split
    before = class_frames(dm.splits["train"], 6)
    loader_ = dm._make_loader("train")
    if loader == "dali":
        seen = np.bincount([label for _, label, start, end in loader_.spec.entries for _ in range(end - start)],
                           minlength=6)
    else:
        seen = np.bincount([r.label for r, _ in loader_.dataset.samples], minlength=6)
    assert before.argmax() == 3 and before.max() > 3 * before.min()
    assert seen[3] == before[3] and seen.min() >= before.max()  # every class raised to the largest one
    assert seen.max() < before.max() + max(r.frames for r in train)
