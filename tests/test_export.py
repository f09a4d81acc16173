"""`fer export`: ONNX (onnxruntime CPU) and the torch.export archive reproduce the PyTorch logits on real face frames.

The frames are real: Haar crops of WolfgangLanger_Pexels.mp4 through the reference preprocessing with the
checkpoint's normalization, i.e. exactly what `fer predict` feeds the model.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from lightning_fer.cli import main

TOLERANCE = 1e-4  # max |logit difference| the issue asks for


@pytest.fixture(scope="module")
def ckpt(tiny_checkpoint: Path) -> Path:
    return tiny_checkpoint


@pytest.fixture(scope="module")
def model_and_frames(ckpt: Path, test_media: Path):
    """The checkpoint's model and 6 real preprocessed faces (every 40th frame of the clip)."""
    from dali_pipelines.reference import preprocess
    from lightning_fer.predict import load_model
    from lightning_fer.prepare import HaarFaceDetector
    from lightning_fer.prepare.crop import model_input_face
    from lightning_fer.video_io import iter_frames

    model, spec = load_model(ckpt)
    detector = HaarFaceDetector(spec.params)
    crops = []
    for index, frame in enumerate(iter_frames(test_media / "WolfgangLanger_Pexels.mp4")):
        box = detector.detect(frame) if index % 40 == 0 else None
        if box is not None:
            crops.append(model_input_face(frame, box, spec.params))
        if len(crops) == 6:
            break
    frames = preprocess(np.stack(crops), spec.normalization)
    assert frames.shape == (6, 1, 112, 112) and frames.dtype == np.float32
    with torch.inference_mode():
        logits = model(torch.from_numpy(frames)).numpy()
    return model, spec, frames, logits


@pytest.fixture(scope="module")
def onnx_file(ckpt: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("export") / "model.onnx"
    assert main(["export", "--ckpt", str(ckpt), "--format", "onnx", "--out", str(out)]) == 0
    return out


def test_onnx_logits_match_pytorch_on_real_frames(onnx_file: Path, model_and_frames):
    from lightning_fer.predict import OnnxEngine

    _, _, frames, expected = model_and_frames
    engine = OnnxEngine(onnx_file, "cpu")
    got = engine.logits(frames)
    error = float(np.abs(got - expected).max())
    print(f"ONNX vs PyTorch max |logit difference| on {len(frames)} real frames: {error:.2e}")
    assert error < TOLERANCE
    np.testing.assert_array_equal(got.argmax(1), expected.argmax(1))


def test_onnx_batch_axis_is_dynamic(onnx_file: Path, model_and_frames):
    import onnx

    from lightning_fer.predict import OnnxEngine

    _, _, frames, expected = model_and_frames
    dims = onnx.load(str(onnx_file)).graph.input[0].type.tensor_type.shape.dim
    assert dims[0].dim_param == "batch" and [d.dim_value for d in dims[1:]] == [1, 112, 112]
    engine = OnnxEngine(onnx_file, "cpu")
    for size in (1, 5):
        np.testing.assert_allclose(engine.logits(frames[:size]), expected[:size], atol=TOLERANCE, rtol=0)


def test_onnx_carries_the_preprocessing_and_haar_settings(onnx_file: Path, model_and_frames):
    from lightning_fer.predict import OnnxEngine
    from lightning_fer.predict.export import spec_from_onnx_metadata

    _, spec, _, _ = model_and_frames
    stored = spec_from_onnx_metadata(OnnxEngine(onnx_file, "cpu").metadata(), onnx_file)
    assert stored.classes == spec.classes and stored.normalization == spec.normalization
    assert stored.params == spec.params


def test_predict_with_onnx_alone_matches_the_checkpoint(onnx_file: Path, ckpt: Path, test_media: Path,
                                                       tmp_path: Path):
    clip = test_media / "single_face.mp4"
    common = ["--input", str(clip), "--max-frames", "8", "--no-progress"]
    assert main(["predict", "--onnx", str(onnx_file), "--out", str(tmp_path / "onnx"), *common]) == 0
    assert main(["predict", "--ckpt", str(ckpt), "--out", str(tmp_path / "torch"), *common]) == 0
    a = pd.read_csv(tmp_path / "onnx" / "single_face.csv", keep_default_na=False)
    b = pd.read_csv(tmp_path / "torch" / "single_face.csv", keep_default_na=False)
    assert a["label"].tolist() == b["label"].tolist() and (a["label"] != "no face").sum() >= 6
    faces = a["label"] != "no face"
    probs = [c for c in a.columns if c.startswith("p_")]
    np.testing.assert_allclose(a.loc[faces, probs].astype(float), b.loc[faces, probs].astype(float), atol=1e-4)


def test_torch_export_archive_matches_pytorch(ckpt: Path, model_and_frames, tmp_path: Path):
    from lightning_fer.predict.checkpoint import ModelSpec

    _, spec, frames, expected = model_and_frames
    out = tmp_path / "model.pt2"
    assert main(["export", "--ckpt", str(ckpt), "--format", "export", "--out", str(out)]) == 0
    extra = {"fer_spec": ""}
    program = torch.export.load(str(out), extra_files=extra)
    assert ModelSpec.from_json(extra["fer_spec"]).params == spec.params
    module = program.module()
    with torch.inference_mode():
        for size in (1, 3):  # the batch axis is dynamic here too
            got = module(torch.from_numpy(frames[:size])).numpy()
            np.testing.assert_allclose(got, expected[:size], atol=TOLERANCE, rtol=0)


def test_torchscript_request_is_a_clear_error(ckpt: Path, tmp_path: Path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["export", "--ckpt", str(ckpt), "--format", "torchscript", "--out", str(tmp_path / "m.ts.pt")])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "TorchScript is deprecated" in err and "--format export" in err
    assert not (tmp_path / "m.ts.pt").exists()


def test_export_of_a_corrupt_checkpoint_is_a_clear_error(tmp_path: Path, capsys):
    bad = tmp_path / "bad.ckpt"
    bad.write_bytes(b"PK\x03\x04 truncated zip")
    assert main(["export", "--ckpt", str(bad), "--out", str(tmp_path / "m.onnx")]) == 2
    err = capsys.readouterr().err
    assert "bad.ckpt" in err and "Traceback" not in err
    assert not (tmp_path / "m.onnx").exists()
