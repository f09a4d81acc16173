"""The paper's network: feature-map shapes per stage, the 8192 flatten, parameter count, input errors."""

import pytest
import torch

from lightning_fer.model import PaperResNet50


@pytest.fixture(scope="module")
def model() -> PaperResNet50:
    torch.manual_seed(0)
    return PaperResNet50(num_classes=6, hidden_size=512, dropout=0.25).eval()


def test_feature_map_shapes_follow_section_2_4(model):
    maps = model.features(torch.zeros(2, 1, 112, 112))
    assert [tuple(m.shape[1:]) for m in maps] == [
        (64, 28, 28),  # 7x7/2 conv + 3x3/2 max pool
        (256, 28, 28),  # stage 1: 3 bottlenecks
        (512, 14, 14),  # stage 2: 4
        (1024, 7, 7),  # stage 3: 6
        (2048, 4, 4),  # stage 4: 3
    ]
    pooled = model.head_pool(maps[-1])
    assert tuple(pooled.shape[1:]) == (2048, 2, 2)
    assert model.flatten_size == 8192 == pooled[0].numel()


def test_stage_block_counts_and_projection_blocks(model):
    assert [len(stage) for stage in model.stages] == [3, 4, 6, 3]
    # the first block of every stage projects its shortcut; the others are identity blocks
    for stage in model.stages:
        assert stage[0].downsample is not None
        assert all(block.downsample is None for block in stage[1:])


def test_parameter_count_is_resnet50_trunk_plus_paper_head(model):
    resnet50_without_fc = 25_557_032 - (2048 * 1000 + 1000)  # torchvision's resnet50 minus its fc
    one_channel_stem = -64 * 7 * 7 * 2  # conv1 reads 1 channel instead of 3
    head = (8192 * 512 + 512) + (512 * 6 + 6)
    assert sum(p.numel() for p in model.parameters()) == resnet50_without_fc + one_channel_stem + head
    assert sum(p.numel() for p in model.parameters()) == 27_699_654


def test_head_order_and_dropout(model):
    kinds = [type(layer).__name__ for layer in model.head]
    assert kinds == ["Flatten", "Linear", "ReLU", "Dropout", "Linear"]
    assert model.head[3].p == 0.25
    assert model.head[1].in_features == 8192 and model.head[1].out_features == 512


def test_logits_shape_and_softmax_free_output(model):
    out = model(torch.randn(3, 1, 112, 112))
    assert out.shape == (3, 6)
    assert not torch.allclose(out.softmax(1).sum(1), out.sum(1))  # raw logits, softmax lives in the loss


@pytest.mark.parametrize("shape,message", [((1, 112, 112), "ndim should be 4"), ((2, 3, 112, 112), "1 x 112 x 112")])
def test_bad_input_shape_gets_a_clear_error(model, shape, message):
    with pytest.raises(ValueError, match=message):
        model(torch.zeros(shape))
