"""model.init_from: a torchvision ResNet-50 state dict (random weights, saved locally) or a fer checkpoint
loads every trunk tensor with the right values; FreezeEarlyStages freezes and unfreezes the early stages."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torchvision.models import resnet50

from lightning_fer.errors import UserError
from lightning_fer.model import PaperResNet50
from lightning_fer.module import FERModule
from lightning_fer.transfer import FreezeEarlyStages, load_initial_weights


@pytest.fixture(scope="module")
def torchvision_file(tmp_path_factory) -> tuple[Path, dict]:
    torch.manual_seed(1)
    state = resnet50().state_dict()
    path = tmp_path_factory.mktemp("tv") / "resnet50.pth"
    torch.save(state, path)
    return path, state


def test_torchvision_state_dict_fills_every_trunk_tensor(torchvision_file):
    path, source = torchvision_file
    torch.manual_seed(2)
    model = PaperResNet50()
    head_before = {k: v.clone() for k, v in model.state_dict().items() if k.startswith("head.")}
    result = load_initial_weights(model, path)
    target = model.state_dict()
    names = {"conv1.": "stem.0.", "bn1.": "stem.1.", **{f"layer{i}.": f"stages.{i - 1}." for i in range(1, 5)}}
    checked = 0
    for key, value in source.items():
        if key.startswith("fc."):
            continue
        prefix = next(p for p in names if key.startswith(p))
        mine = target[names[prefix] + key.removeprefix(prefix)]
        expected = value.sum(dim=1, keepdim=True) if key == "conv1.weight" else value  # RGB summed into gray
        torch.testing.assert_close(mine, expected, rtol=0, atol=0, msg=key)
        checked += 1
    trunk = [k for k in target if not k.startswith("head.")]
    assert checked == len(trunk) == len(result["loaded"])  # every trunk tensor, nothing else
    assert target["stem.0.weight"].shape == (64, 1, 7, 7)
    assert sorted(result["fresh"]) == sorted(head_before)
    for key, value in head_before.items():  # the head stays freshly initialised
        torch.testing.assert_close(target[key], value, rtol=0, atol=0)


def test_fer_checkpoint_loads_trunk_and_matching_head(tmp_path):
    torch.manual_seed(3)
    donor = FERModule()
    path = tmp_path / "fer.ckpt"
    torch.save({"state_dict": donor.state_dict(), "hyper_parameters": {"num_classes": 6}}, path)
    model = PaperResNet50()
    result = load_initial_weights(model, path)
    assert result["fresh"] == []
    for key, value in model.state_dict().items():
        torch.testing.assert_close(value, donor.model.state_dict()[key], rtol=0, atol=0, msg=key)
    other = PaperResNet50(hidden_size=64)  # another head size: trunk loaded, head fresh
    assert {k.split(".")[0] for k in load_initial_weights(other, path)["fresh"]} == {"head"}


def test_bad_init_files_are_clear_errors(tmp_path):
    with pytest.raises(UserError, match="file not found"):
        load_initial_weights(PaperResNet50(), tmp_path / "nope.pth")
    torch.save({"something": torch.zeros(1)}, tmp_path / "other.pth")
    with pytest.raises(UserError, match="neither a torchvision"):
        load_initial_weights(PaperResNet50(), tmp_path / "other.pth")
    state = resnet50().state_dict()
    del state["layer3.0.conv1.weight"]
    torch.save(state, tmp_path / "partial.pth")
    with pytest.raises(UserError, match="1 trunk tensors missing.*stages.2.0.conv1.weight absent"):
        load_initial_weights(PaperResNet50(), tmp_path / "partial.pth")


def test_freeze_early_stages_then_unfreeze():
    module = FERModule()
    callback = FreezeEarlyStages(stages=2, epochs=1)
    callback.freeze_before_training(module)
    convs = [module.model.stem[0].weight, *(p for n, p in module.model.stages[0].named_parameters() if ".conv" in n)]
    assert not any(p.requires_grad for p in convs)
    assert all(p.requires_grad for p in module.model.stages[1].parameters())
    assert module.model.stem[1].weight.requires_grad  # stem BatchNorm: train_bn=True
    optimizer = torch.optim.SGD(module.parameters(), lr=0.1)
    callback.finetune_function(module, 0, optimizer)
    assert not any(p.requires_grad for p in convs)
    callback.finetune_function(module, 1, optimizer)
    assert all(p.requires_grad for p in module.parameters())
