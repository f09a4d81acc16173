"""`fer tune` and `fer scale` spell overrides alike: one encoder, booleans and None as JSON."""

from __future__ import annotations

from lightning_fer.cli_overrides import override_args


def test_tune_and_scale_encode_overrides_alike() -> None:
    import lightning_fer.scale.plan as plan
    import lightning_fer.tune.trial as trial

    assert plan.override_args is trial.override_args is override_args
    values = {"model.optimizer.init_args.lr": 0.02, "data.check_decode": False, "model.lr_scheduler": None,
              "model.optimizer": {"class_path": "torch.optim.SGD"}, "data.train_sampling.step": 3}
    assert override_args(values) == [
        "--data.check_decode", "false", "--data.train_sampling.step", "3", "--model.lr_scheduler", "null",
        "--model.optimizer", '{"class_path": "torch.optim.SGD"}', "--model.optimizer.init_args.lr", "0.02"]


def test_scale_points_carry_the_accelerator_and_devices_their_config_resolves_to() -> None:
    from lightning_fer.scale.plan import expand
    from lightning_fer.scale.study import load_study

    points = expand(load_study("configs/scale/tiny_cpu.yaml"))  # overrides trainer.accelerator: cpu
    assert {p.accelerator for p in points} == {"cpu"}
    assert sorted({p.devices for p in points}) == [1, 2]
    assert all(p.devices == p.split.devices for p in points)
    points = expand(load_study("configs/scale/tiny_cpu.yaml"), ["--trainer.accelerator", "auto"])
    assert {p.accelerator for p in points} == {"auto"}  # the command line's extra arguments win, as in `fer fit`
