"""The shared file helpers: atomic writes, the YAML-mapping loader, markdown tables, prepare.json reading."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from lightning_fer.atomic_write import atomic_path, partial_path, remove_partials, write_bytes, write_text
from lightning_fer.errors import UserError
from lightning_fer.markdown import markdown_table
from lightning_fer.yaml_mapping import load_yaml_mapping


def test_write_text_and_bytes_replace_the_file_and_leave_no_temp(tmp_path: Path):
    target = tmp_path / "report.json"
    target.write_text("old")
    assert write_text(target, '{"a": 1}') == target
    assert json.loads(target.read_text()) == {"a": 1}
    write_bytes(tmp_path / "blob.bin", b"\x00\x01")
    assert (tmp_path / "blob.bin").read_bytes() == b"\x00\x01"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["blob.bin", "report.json"]


def test_a_writer_that_raises_leaves_the_old_file_and_no_partial(tmp_path: Path):
    target = tmp_path / "plot.png"
    target.write_bytes(b"complete")
    with pytest.raises(RuntimeError, match="writer died"), atomic_path(target) as tmp:
        assert tmp.parent == tmp_path and tmp.suffix == ".png" and ".partial-" in tmp.name  # format by suffix
        tmp.write_bytes(b"half")
        raise RuntimeError("writer died")
    assert target.read_bytes() == b"complete"
    assert [p.name for p in tmp_path.iterdir()] == ["plot.png"]


def test_remove_partials_sweeps_what_killed_writers_left(tmp_path: Path):
    target = tmp_path / "clip.mp4"
    partial_path(target).write_bytes(b"half")
    (tmp_path / ".clip.partial-99999.mp4").write_bytes(b"other process")
    (tmp_path / ".clip.partial-1.json").write_text("{}")  # another file's temp: kept
    remove_partials(target)
    assert [p.name for p in tmp_path.iterdir()] == [".clip.partial-1.json"]


def test_partial_names_are_git_ignored():
    ignored = (Path(__file__).resolve().parent.parent / ".gitignore").read_text().splitlines()
    assert "*.partial-*" in ignored and ".partial-" in partial_path("runs/x/summary.json").name


@pytest.mark.parametrize(
    ("text", "message"),
    [(None, "cluster config {path} does not exist (see configs/cluster)"),
     ("nodes: [\n", "cluster config {path} is not valid YAML"),
     ("- nodes\n- gpus\n", "cluster config {path} must be a mapping (key: value) at the top level, got list")],
)
def test_yaml_loader_errors_name_the_file(tmp_path: Path, text: str | None, message: str):
    path = tmp_path / "bad.yaml"
    if text is not None:
        path.write_text(text)
    with pytest.raises(UserError) as err:
        load_yaml_mapping(path, "cluster config", hint="see configs/cluster")
    assert str(err.value).startswith(message.format(path=path))


def test_yaml_loader_reads_a_mapping_and_an_empty_file(tmp_path: Path):
    path = tmp_path / "ok.yaml"
    path.write_text("nodes: 2\ntime: '00:30:00'\n")
    assert load_yaml_mapping(path) == {"nodes": 2, "time": "00:30:00"}
    path.write_text("")
    assert load_yaml_mapping(path) == {}


def test_markdown_table_header_rule_rows_and_formatter():
    assert markdown_table(["a", "b"], [[1, 2.5], ["x", None]]) == "| a | b |\n|---|---|\n| 1 | 2.5 |\n| x | None |"
    assert markdown_table(["v"], [[0.12345]], fmt=lambda v: f"{v:.2f}") == "| v |\n|---|\n| 0.12 |"
    assert markdown_table(["only", "header"], []) == "| only | header |\n|---|---|"


def test_prepare_info_reader_and_dataset_normalization(tmp_path: Path):
    from lightning_fer.prepare.manifest import dataset_normalization, read_prepare_info

    with pytest.raises(UserError, match=re.escape(f"{tmp_path / 'prepare.json'}: cannot read")):
        read_prepare_info(tmp_path)
    (tmp_path / "prepare.json").write_text("{not json")
    with pytest.raises(UserError, match="prepare.json: not valid JSON"):
        read_prepare_info(tmp_path)
    (tmp_path / "prepare.json").write_text(json.dumps({"stats": {"gray_mean": 0.5, "gray_std": 0.29}}))
    norm = dataset_normalization(read_prepare_info(tmp_path), tmp_path / "prepare.json")
    assert (norm.mode, norm.mean, norm.std) == ("dataset", 0.5, 0.29)
    with pytest.raises(UserError, match="prepare.json: dataset normalization needs stats.gray_mean/gray_std"):
        dataset_normalization({"stats": {}}, tmp_path / "prepare.json")


def test_training_and_predict_read_the_same_dataset_normalization(tmp_path: Path):
    from lightning_fer.data.datamodule import FERDataModule
    from lightning_fer.predict.checkpoint import spec_from_checkpoint

    (tmp_path / "prepare.json").write_text(json.dumps({"params": {"min_size": 30},
                                                       "stats": {"gray_mean": 0.47, "gray_std": 0.31}}))
    training = FERDataModule(data_dir=str(tmp_path), normalization="dataset").normalization()
    data_hp = {"data_dir": str(tmp_path), "normalization": "dataset"}
    checkpoint = {"state_dict": {}, "datamodule_hyper_parameters": data_hp}
    spec = spec_from_checkpoint(checkpoint)
    assert spec.normalization == training and (training.mean, training.std) == (0.47, 0.31)
    assert spec.params.min_size == 30 and spec.params_source == str(tmp_path / "prepare.json")
    (tmp_path / "prepare.json").write_text(json.dumps({"params": {}}))
    with pytest.raises(UserError, match="prepare.json: dataset normalization needs"):
        FERDataModule(data_dir=str(tmp_path), normalization="dataset").normalization()
    with pytest.raises(UserError, match="checkpoint: trained with dataset normalization"):
        spec_from_checkpoint(checkpoint)
