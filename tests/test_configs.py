"""Every shipped file in configs/ parses with the loader that reads it in real use.

configs/*.yaml go through LightningCLI (`fer fit --config X --print_config`), configs/tune/* through the
search-space loader, configs/scale/* through the study loader (and its point planner), configs/cluster/*
through the SLURM resources loader. A file in a folder no loader covers fails the test.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def _lightning(path: Path, capsys: pytest.CaptureFixture) -> None:
    from lightning_fer.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(["fit", "--config", str(path), "--print_config"])
    assert exit_info.value.code in (0, None)
    printed = yaml.safe_load(capsys.readouterr().out)
    assert {"trainer", "model", "data"} <= set(printed)
    _assert_contains(printed, yaml.safe_load(path.read_text()), str(path.name))


def _tune(path: Path, capsys: pytest.CaptureFixture) -> None:
    from lightning_fer.tune.spec import load_spec, param_space

    spec = load_spec(path)
    space = param_space(spec)
    assert space and set(space) == set(yaml.safe_load(path.read_text())["space"])


def _scale(path: Path, capsys: pytest.CaptureFixture) -> None:
    from lightning_fer.scale.plan import expand
    from lightning_fer.scale.study import load_study

    study = load_study(path)
    points = expand(study)
    assert points and len({p.name for p in points}) == len(points)


def _cluster(path: Path, capsys: pytest.CaptureFixture) -> None:
    from lightning_fer.cluster.resources import load_resources

    resources = load_resources(path)
    for key, value in yaml.safe_load(path.read_text()).items():
        assert getattr(resources, key) == value, f"{path.name}: {key}"


LOADERS: dict[str, Callable[[Path, pytest.CaptureFixture], None]] = {
    ".": _lightning, "tune": _tune, "scale": _scale, "cluster": _cluster,
}


def _shipped() -> list[Path]:
    return sorted(p for p in CONFIGS.rglob("*") if p.is_file())


def _assert_contains(parsed: object, written: object, where: str) -> None:
    """Every value written in the file is in the parsed config (which adds the defaults around it)."""
    if isinstance(written, dict):
        assert isinstance(parsed, dict), where
        for key, value in written.items():
            assert key in parsed, f"{where}.{key} missing from the parsed config"
            _assert_contains(parsed[key], value, f"{where}.{key}")
    elif isinstance(written, list):
        assert isinstance(parsed, list) and len(parsed) == len(written), where
        for i, (p, w) in enumerate(zip(parsed, written, strict=True)):
            _assert_contains(p, w, f"{where}[{i}]")
    else:
        assert parsed == written, f"{where}: file says {written!r}, parsed {parsed!r}"


def test_every_config_file_has_a_loader():
    uncovered = [str(p.relative_to(CONFIGS)) for p in _shipped() if str(p.parent.relative_to(CONFIGS)) not in LOADERS]
    assert not uncovered, f"no loader in tests/test_configs.py covers {uncovered}: add one to LOADERS"
    assert {str(p.parent.relative_to(CONFIGS)) for p in _shipped()} == set(LOADERS)  # no loader left unused


@pytest.mark.parametrize("path", _shipped(), ids=lambda p: str(p.relative_to(CONFIGS)))
def test_config_parses_with_its_loader(path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(CONFIGS.parent)  # configs name each other relative to the repository root
    loader = LOADERS.get(str(path.parent.relative_to(CONFIGS)))
    if loader is None:
        pytest.fail(f"no loader covers configs/{path.relative_to(CONFIGS)}")
    loader(path, capsys)
