"""Ray Tune over the LightningCLI config: `fer tune --config BASE --search configs/tune/SPACE.yaml`.

A trial is the base config plus sampled values applied as LightningCLI dotted overrides and run through
:func:`lightning_fer.lightning_cli.make_cli` in the trial process, so tuning and `fer fit` share one code path.

- :mod:`.spec`: the search-space YAML -> Tune domains, scheduler, resources.
- :mod:`.trial`: the trainable (one `fer fit` per trial, its own run directory).
- :mod:`.report`: the Lightning callback that reports val_loss/val_acc to Tune each epoch.
- :mod:`.driver`: Ray init (:mod:`lightning_fer.ray_runtime`), Tuner / Tuner.restore, then :mod:`.results`
  (tables, best config) and :mod:`.plot` (curves.png), both over :mod:`.records` (trials, best per grid cell).
"""
