"""The `fer tune` driver: connect to Ray, run (or restore) the Tuner, write the results.

The experiment lives in ``<storage>/<name>/``: Tune's state, one directory per trial (its `fer fit` run
directory) and ``fer_tune.json`` (the search spec and trial setup), so ``--resume`` needs only the name.

Resources: a one-process trial reserves ``resources``/``--cpus-per-trial``/``--gpus-per-trial``. A trial of
``--workers-per-trial W`` > 1 is a Ray Train job: its Tune function only drives it (no resources of its own) and
each of its W ranks reserves ``--cpus-per-worker``/``--gpus-per-worker``; at most (cluster CPUs or GPUs) //
(W x per-worker) such trials run at once, and a W the cluster cannot place is refused before any trial starts.
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass
from pathlib import Path

from ray.tune import Callback

from lightning_fer.atomic_write import write_text
from lightning_fer.errors import UserError
from lightning_fer.ray_runtime import ensure_ray, ray_capacity
from lightning_fer.ray_train import release_placement_groups
from lightning_fer.tune.spec import SearchSpec, load_spec, make_scheduler, make_search_alg, param_space
from lightning_fer.tune.trial import TrialSetup, run_dir_name, train_trial

STATE_FILE = "fer_tune.json"


@dataclass
class TuneOptions:
    config: str | None
    search: str | None
    name: str | None = None
    storage: str = "runs/tune"
    resume: bool = False
    num_samples: int | None = None
    cpus_per_trial: float | None = None
    gpus_per_trial: float | None = None
    max_concurrent: int | None = None
    max_failures: int | None = None
    workers_per_trial: int = 1
    cpus_per_worker: float | None = None
    gpus_per_worker: float | None = None
    extra: tuple[str, ...] = ()


def experiment_dir(opts: TuneOptions) -> Path:
    if not opts.name and not (opts.config and opts.search):
        raise UserError("give --name, or --config and --search (the default name is <config>-<search>)")
    name = opts.name or f"{Path(opts.config).stem}-{Path(opts.search).stem}"
    return Path(opts.storage).expanduser().resolve() / name


def trial_resources(spec: SearchSpec, opts: TuneOptions) -> dict[str, float]:
    """Per-trial CPUs/GPUs from flags, else the spec; `gpu: auto` is 1 on a cluster with GPUs; capped to a node."""
    capacity = ray_capacity()
    cpu = opts.cpus_per_trial if opts.cpus_per_trial is not None else spec.resources.get("cpu", 1)
    gpu = capacity.gpus(opts.gpus_per_trial if opts.gpus_per_trial is not None else spec.resources.get("gpu", "auto"))
    node_cpus = capacity.largest("CPU") if capacity.nodes else 1
    if float(cpu) > node_cpus:
        print(f"[fer tune] {cpu} CPUs per trial exceed the largest node ({node_cpus:g}): using {node_cpus:g}")
        cpu = node_cpus
    if gpu > capacity.total.get("GPU", 0):
        raise UserError(f"{gpu:g} GPU(s) per trial requested but the Ray cluster has "
                        f"{capacity.total.get('GPU', 0):g}")
    return {"cpu": float(cpu), "gpu": gpu}


def trial_workers(spec: SearchSpec, opts: TuneOptions):
    """The Ray Train ranks of a multi-worker trial; defaults per worker: the spec's cpu, one GPU if the cluster
    has GPUs (`gpu: auto`); raises before any trial starts when the cluster cannot place them."""
    from lightning_fer.ray_train import Workers, concurrent_jobs

    cpu = opts.cpus_per_worker if opts.cpus_per_worker is not None else float(spec.resources.get("cpu", 1))
    gpu = opts.gpus_per_worker if opts.gpus_per_worker is not None else spec.resources.get("gpu", "auto")
    workers = Workers(opts.workers_per_trial, float(cpu), ray_capacity().gpus(gpu))
    fits = concurrent_jobs(workers, "a trial")
    spec.max_concurrent = min(spec.max_concurrent or fits, fits)
    return workers


class ReleaseTrialWorkers(Callback):
    """When a multi-worker trial ends (completed, stopped by the scheduler, failed), free the placement group of
    its Ray Train ranks if its killed trial function left it reserved (:func:`release_placement_groups`)."""

    def __init__(self, exp_dir: Path) -> None:
        self.exp_dir = exp_dir

    def on_trial_complete(self, iteration, trials, trial, **info) -> None:
        self._release(trial)

    def on_trial_error(self, iteration, trials, trial, **info) -> None:
        self._release(trial)

    def _release(self, trial) -> None:
        if release_placement_groups(self.exp_dir / trial_dirname(trial)):
            print(f"[fer tune] trial {trial.trial_id} stopped: released the placement group of its ranks")


def trial_dirname(trial) -> str:
    """Tune's trial directory name: the same as the trial's run directory (see :func:`run_dir_name`)."""
    return run_dir_name(trial.trial_id, trial.config)


def _save_state(exp_dir: Path, spec: SearchSpec, setup: TrialSetup, resources: dict, opts: TuneOptions) -> None:
    exp_dir.mkdir(parents=True, exist_ok=True)
    state = {"spec": dataclasses.asdict(spec), "setup": dataclasses.asdict(setup), "resources": resources,
             "max_concurrent": opts.max_concurrent, "max_failures": opts.max_failures}
    write_text(exp_dir / STATE_FILE, json.dumps(state, indent=2))


def _load_state(exp_dir: Path) -> tuple[SearchSpec, TrialSetup, dict]:
    state = json.loads((exp_dir / STATE_FILE).read_text())
    known = {f.name for f in dataclasses.fields(TrialSetup)}  # experiments saved before a field was dropped
    setup = {k: v for k, v in state["setup"].items() if k in known}
    setup["extra_args"] = tuple(setup["extra_args"])
    return SearchSpec(**state["spec"]), TrialSetup(**setup), state["resources"]


def _new_spec(opts: TuneOptions, exp_dir: Path) -> SearchSpec:
    if not opts.config or not opts.search:
        raise UserError("--config and --search are required (unless --resume)")
    if not Path(opts.config).is_file():
        raise UserError(f"base config {opts.config} does not exist")
    if (exp_dir / STATE_FILE).exists():
        raise UserError(f"experiment {exp_dir} exists: add --resume to continue it, or pick another --name")
    spec = load_spec(opts.search)
    for name in ("num_samples", "max_concurrent", "max_failures"):
        if getattr(opts, name) is not None:
            setattr(spec, name, getattr(opts, name))
    return spec


def run_tune(opts: TuneOptions) -> Path:
    """Run or resume the experiment; returns its directory (the results are written into it)."""
    from ray import tune

    exp_dir = experiment_dir(opts)
    spec = None if opts.resume else _new_spec(opts, exp_dir)  # bad input fails before Ray starts
    ensure_ray()
    if spec is None:
        if not (exp_dir / STATE_FILE).is_file() or not tune.Tuner.can_restore(str(exp_dir)):
            raise UserError(f"--resume: no restorable experiment in {exp_dir} (check --name and --storage)")
        spec, setup, resources = _load_state(exp_dir)
        print(f"[fer tune] resuming {exp_dir}: finished trials are kept, the rest run")
        trainable = tune.with_resources(tune.with_parameters(train_trial, setup=setup), resources)
        tuner = tune.Tuner.restore(str(exp_dir), trainable=trainable, resume_unfinished=True, resume_errored=True)
    else:
        setup = TrialSetup(base_config=str(Path(opts.config).resolve()), experiment_dir=str(exp_dir),
                           extra_args=tuple(opts.extra), cwd=os.getcwd(), group=exp_dir.name)
        if opts.workers_per_trial > 1:
            workers = trial_workers(spec, opts)
            from lightning_fer.ray_train import DRIVER_MEMORY

            resources = {"cpu": 0.0, "gpu": 0.0, "memory": DRIVER_MEMORY}  # the trial function drives its job
            setup = dataclasses.replace(setup, workers=workers.count,
                                        cpus_per_worker=workers.cpus, gpus_per_worker=workers.gpus,
                                        max_failures=spec.max_failures)
        else:
            resources = trial_resources(spec, opts)
            if resources["gpu"] > 1:
                raise UserError("more than one GPU per trial needs a multi-worker trial: use --workers-per-trial "
                                "N --gpus-per-worker 1 (a Ray Train job of N ranks)")
        _save_state(exp_dir, spec, setup, resources, opts)
        trainable = tune.with_resources(tune.with_parameters(train_trial, setup=setup), resources)
        tuner = tune.Tuner(
            trainable,
            param_space=param_space(spec),
            tune_config=tune.TuneConfig(
                metric=spec.metric, mode=spec.mode, search_alg=make_search_alg(spec),
                scheduler=make_scheduler(spec), num_samples=spec.num_samples,
                trial_dirname_creator=trial_dirname),
            run_config=tune.RunConfig(name=exp_dir.name, storage_path=str(exp_dir.parent),
                                      callbacks=[ReleaseTrialWorkers(exp_dir)] if setup.workers > 1 else None,
                                      failure_config=tune.FailureConfig(max_failures=spec.max_failures)),
        )
        per_trial = (f"{setup.workers} worker(s) x {setup.cpus_per_worker:g} CPU(s), {setup.gpus_per_worker:g} "
                     f"GPU(s), at most {spec.max_concurrent} at once" if setup.workers > 1 else str(resources))
        print(f"[fer tune] {exp_dir}: {spec.source}, per trial {per_trial}, base {setup.base_config}")
    grid = tuner.fit()
    from lightning_fer.tune.results import write_results

    write_results(exp_dir, grid, spec)
    return exp_dir
