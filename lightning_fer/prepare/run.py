"""The crop pass over a dataset: discover items, process them in parallel, write the manifest.

Items are independent, so they go to a process pool (one OpenCV thread per process: Haar is the
bottleneck and scales with processes). Results stream back as they finish, so a killed run keeps
every finished clip (each has its sidecar) and a rerun only does the rest.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from functools import partial
from pathlib import Path

from lightning_fer.errors import UserError
from lightning_fer.prepare.layout import DEFAULT_LAYOUT, Item, discover
from lightning_fer.prepare.manifest import rows_frame, write_outputs, write_part
from lightning_fer.prepare.params import PrepareParams
from lightning_fer.prepare.process import ItemResult, process_item
from lightning_fer.prepare.summary import Failure, PrepareSummary


def _init_worker() -> None:
    import cv2

    cv2.setNumThreads(1)


def default_workers() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def _results(items: list[Item], params: PrepareParams, out: Path, workers: int) -> Iterator[ItemResult]:
    """Results in completion order; a crashed worker process turns its unfinished items into failures."""
    work = partial(process_item, params=params, out=out)
    if workers <= 1 or len(items) <= 1:
        _init_worker()
        yield from map(work, items)
        return
    context = multiprocessing.get_context("spawn")  # no fork of a parent that may hold threads
    with ProcessPoolExecutor(min(workers, len(items)), mp_context=context, initializer=_init_worker) as pool:
        futures = {pool.submit(work, item): item for item in items}
        try:
            for future in as_completed(futures):
                item = futures[future]
                try:
                    yield future.result()
                except BrokenProcessPool as err:
                    yield ItemResult(item.video_id, str(item.source), reason="worker died",
                                     detail=f"a worker process ended abruptly (out of memory?): {err}")
        finally:
            for future in futures:
                future.cancel()


def run_prepare(root: str | Path, out: str | Path, params: PrepareParams | None = None, workers: int | None = None,
                layout: str = DEFAULT_LAYOUT, strict: bool = False, shard: int = 0, num_shards: int = 1,
                progress: bool = True) -> PrepareSummary:
    """Crop faces of every item under ``root`` into ``out``; returns the summary (see ``summary.ok``)."""
    from tqdm import tqdm

    params = params or PrepareParams()
    if not 0 <= shard < num_shards:
        raise UserError(f"--shard {shard} must be in 0..{num_shards - 1} (--num-shards {num_shards})")
    out = Path(out).resolve()
    items, problems = discover(root, layout, skip=out)
    items = items[shard::num_shards]
    problems = problems[shard::num_shards]  # each problem reported by exactly one shard
    summary = PrepareSummary(items=len(items), strict=strict,
                             failures=[Failure(str(p.source), p.reason, p.detail) for p in problems])
    rows, sums = [], [0.0, 0.0, 0.0]
    bar = tqdm(total=len(items), desc="fer prepare", unit="item", disable=not progress, dynamic_ncols=True)
    with bar:
        for result in _results(items, params, out, workers or default_workers()):
            bar.update(1)
            if result.row is None:
                summary.failures.append(Failure(result.source, result.reason, result.detail))
                bar.set_postfix(failed=len(summary.failures), refresh=False)
                continue
            rows.append(result.row)
            sums = [a + b for a, b in zip(sums, result.gray, strict=True)]
            summary.produced += 1
            summary.resumed += int(result.resumed)
            summary.frames_decoded += result.frames_decoded
            summary.faces_found += result.faces_found
            summary.frames_reused += result.row["frames_reused"]
            summary.frames_dropped += result.row["frames_dropped"]
            summary.frames_written += result.row["frames"]
    summary.failures.sort(key=lambda f: f.source)
    frame = rows_frame(rows)
    if num_shards == 1:
        write_outputs(out, frame, params.to_dict(), params.params_id, sums, summary)
    else:
        write_part(out, shard, num_shards, frame, params.to_dict(), params.params_id, sums, summary)
    return summary
