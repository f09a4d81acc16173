"""Transfer learning: start the paper's network from a local file instead of random weights.

``model.init_from`` names either a torchvision ResNet-50 state dict (e.g. ImageNet weights the user
downloaded: ``torch.save(resnet50(weights=...).state_dict(), "resnet50.pth")``) or another `fer fit`
checkpoint. Nothing is downloaded at run time. From torchvision the trunk is loaded and the 3-channel
conv1 becomes 1 channel by summing over RGB (a gray frame R = G = B then gives the same response as
in RGB); the head (3x3 max pool -> FC -> dropout -> classes) starts fresh. From a fer checkpoint every
tensor of matching shape is loaded (the head too when sizes agree).

:class:`FreezeEarlyStages` keeps the stem and the first stages frozen for the first epochs, so a small
dataset does not wash out the pretrained low-level filters while the fresh head is still random.
"""

from __future__ import annotations

import pickle
import zipfile
from pathlib import Path

import torch
from pytorch_lightning.callbacks import BaseFinetuning
from torch import nn

from lightning_fer.errors import UserError
from lightning_fer.model import PaperResNet50

TORCHVISION_NAMES = {"conv1.": "stem.0.", "bn1.": "stem.1.", "layer1.": "stages.0.", "layer2.": "stages.1.",
                     "layer3.": "stages.2.", "layer4.": "stages.3."}


def read_initial_weights(path: str | Path, in_channels: int = 1) -> tuple[str, dict[str, torch.Tensor]]:
    """(kind, state dict in PaperResNet50's names) from a torchvision ResNet-50 state dict or a fer checkpoint."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"model.init_from {path}: file not found (give a local torchvision ResNet-50 state dict "
                        "or a fer checkpoint; nothing is downloaded)")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:  # a Lightning checkpoint with hyperparameter objects: allow-listed types only
        from lightning_fer.checkpoint_record import load_checkpoint_dict

        state = load_checkpoint_dict(path)
    except (RuntimeError, OSError, EOFError, ValueError, zipfile.BadZipFile) as err:
        raise UserError(f"model.init_from {path}: unreadable ({str(err).splitlines()[0][:300]})") from err
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        return "fer checkpoint", {k.removeprefix("model."): v for k, v in state["state_dict"].items()
                                  if k.startswith("model.")}
    if isinstance(state, dict) and "conv1.weight" in state:
        mapped = {}
        for key, value in state.items():
            prefix = next((p for p in TORCHVISION_NAMES if key.startswith(p)), None)
            if prefix is None:
                continue  # fc.*: the paper's head replaces it
            if key == "conv1.weight" and value.shape[1] == 3 and in_channels == 1:
                value = value.sum(dim=1, keepdim=True)
            mapped[TORCHVISION_NAMES[prefix] + key.removeprefix(prefix)] = value
        return "torchvision ResNet-50", mapped
    raise UserError(f"model.init_from {path}: neither a torchvision ResNet-50 state dict (conv1.weight, layer1..4) "
                    "nor a fer checkpoint (state_dict with model.*)")


def load_initial_weights(model: PaperResNet50, path: str | Path) -> dict[str, list[str]]:
    """Copy the file's weights into ``model``: every trunk tensor must be there with its shape; returns
    ``{"loaded": names, "fresh": names}`` (fresh = left as initialised, the head from torchvision)."""
    kind, source = read_initial_weights(path, model.in_channels)
    target = model.state_dict()
    trunk = [k for k in target if not k.startswith("head.")]
    missing = [k for k in trunk if k not in source or source[k].shape != target[k].shape]
    if missing:
        shown = ", ".join(f"{k} {tuple(source[k].shape) if k in source else 'absent'} vs {tuple(target[k].shape)}"
                          for k in missing[:3])
        raise UserError(f"model.init_from {path} ({kind}): {len(missing)} trunk tensors missing or of another "
                        f"shape: {shown}")
    loaded = [k for k in target if k in source and source[k].shape == target[k].shape]
    with torch.no_grad():
        for key in loaded:
            target[key].copy_(source[key])
    fresh = [k for k in target if k not in loaded]
    print(f"model.init_from {path} ({kind}): {len(loaded)} tensors loaded, {len(fresh)} fresh "
          f"({', '.join(sorted({k.split('.')[0] for k in fresh})) or 'none'})")
    return {"loaded": loaded, "fresh": fresh}


class FreezeEarlyStages(BaseFinetuning):
    """Freeze the first ``stages`` of [stem, stage 1, stage 2, stage 3, stage 4] until epoch ``epochs``.

    The frozen parameters stay in the optimizer without gradients (the optimizer skips them), so
    unfreezing only switches ``requires_grad`` back on; a run resumed after ``epochs`` trains them.
    """

    def __init__(self, stages: int = 2, epochs: int = 1, train_bn: bool = True) -> None:
        super().__init__()
        if not 1 <= stages <= 5 or epochs < 0:
            raise UserError(f"FreezeEarlyStages: stages must be 1..5 and epochs >= 0, got {stages}, {epochs}")
        self.stages, self.epochs, self.train_bn = stages, epochs, train_bn

    def modules(self, pl_module) -> list[nn.Module]:
        model: PaperResNet50 = pl_module.model
        return [model.stem, *model.stages][:self.stages]

    def freeze_before_training(self, pl_module) -> None:
        if self.epochs > 0:
            self.freeze(self.modules(pl_module), train_bn=self.train_bn)

    def finetune_function(self, pl_module, epoch: int, optimizer) -> None:
        if epoch >= self.epochs:
            self.make_trainable(self.modules(pl_module))
