"""`fer bench reader`: how loader start-up and throughput grow with the number of clips, DALI and baseline.

    fer bench reader                                 # 200, 2,000, 20,000 clips; warm and cold page cache
    fer bench reader --clips 200 2000 20000 100000   # the issue's full table (several minutes more)
    fer bench reader --clips 200 2000 --rounds 1     # a quick look

N clips are N hard links (``os.link``) to the clips of a prepared folder under new names, in a temporary
folder beside it (removed afterwards), each read as one 25-frame range (``--range``), as the frame protocol's
segments are. Every loader reads rank 0's shard of 2 (``epoch_shard``: the samples this rank gets in epoch 0),
shuffled, runs of ``--sequence-length`` frames every ``--step`` frames, as training reads them:

- DALI, one pipeline per pass (``chunk_clips = 0``; what the loader did before chunking): the reader opens
  and indexes every clip of the rank's file list before its first batch;
- DALI, chunked (``chunk_clips``, the data module's default): one pipeline per chunk of about that many clips,
  the next one indexed in DALI's threads while the current one is read;
- the baseline loader (torch DataLoader, PyAV + NumPy/OpenCV reference).

For each: build (loader constructed), first batch (from ``iter()`` to the first batch), start-up (the two),
steady frames/s (the next ``--steady-batches`` batches; with the chunked loader at large N the next chunk is
being indexed meanwhile, so that window shows the worst of it). Variants take turns within each round, rounds
alternate their order; medians of ``--rounds`` rounds and the spread (min-max) are reported. Cold cache:
``sync`` and ``echo 3 > /proc/sys/vm/drop_caches`` (page cache, dentries and inodes) before each cold
measurement, where allowed (root); otherwise cold rows are left out and the notes say why. Hard links share
the data of the few source clips, so a cold start here pays the per-name directory look-ups and opens
(what grows with N), not reading N different files. A last measurement reads the chunked loader over its
first three chunks (two switches) beside one pipeline over the same batches: steady throughput over chunk
boundaries, where the per-chunk costs (indexing the next chunk, a new pipeline) are paid.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from lightning_fer.bench.record import BenchResult

NAME = "reader"
HELP = "loader start-up and frames/s vs number of clips (200 ... 100,000 hard links), DALI vs baseline"
DROP_CACHES = "/proc/sys/vm/drop_caches"
START_GOAL_S, COLD_GOAL_S, STEADY_GOAL = 5.0, 15.0, 0.10  # the goals at 100,000 clips, per rank


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", default=None, help="prepared folder whose clips are linked; default as in "
                                                     "`fer bench data`")
    parser.add_argument("--clips", type=int, nargs="+", default=[200, 2000, 20000],
                        help="numbers of clips to measure (add 100000 for the full table)")
    parser.add_argument("--cache", nargs="+", default=["warm", "cold"], choices=("warm", "cold"))
    parser.add_argument("--rounds", type=int, default=3, help="rounds per measurement; median and spread reported")
    parser.add_argument("--threads", type=int, default=1, help="DALI threads = baseline DataLoader workers")
    parser.add_argument("--batch-size", type=int, default=32, help="frames per batch")
    parser.add_argument("--range", type=int, default=25, help="frames of each clip read (one range per clip)")
    parser.add_argument("--sequence-length", type=int, default=4, help="frames per sampled run")
    parser.add_argument("--step", type=int, default=4, help="a new run every STEP frames")
    parser.add_argument("--steady-batches", type=int, default=60, help="DALI batches timed after the first")
    parser.add_argument("--baseline-batches", type=int, default=20, help="baseline batches timed after the first")
    parser.add_argument("--chunk-clips", type=int, default=None,
                        help="chunked DALI loader's clips per pipeline (default: the data module's)")
    parser.add_argument("--switch-rounds", type=int, default=2,
                        help="rounds of the throughput measurement across chunk switches (0: skip it)")


def run(args: argparse.Namespace) -> BenchResult:
    from dali_pipelines.epoch_order import DEFAULT_CHUNK_CLIPS
    from lightning_fer.bench.data import default_data, load_note, load_ranges
    from lightning_fer.errors import UserError

    if args.rounds < 1 or min(args.clips) < 2:
        raise UserError("--rounds must be at least 1 and every --clips value at least 2")
    chunk = DEFAULT_CHUNK_CLIPS if args.chunk_clips is None else args.chunk_clips
    data = Path(args.data) if args.data else default_data()
    sources = [r for r in load_ranges(data) if r.frames >= args.range]
    if not sources:
        raise UserError(f"{data}: no clip has {args.range} frames (--range)")
    cold_note = drop_caches() if "cold" in args.cache else None
    caches = [c for c in args.cache if c == "warm" or cold_note is None]
    variants = {"DALI, one pipeline (before)": 0, f"DALI, chunked ({chunk} clips)": chunk, "baseline": None}
    times: dict[tuple[int, str, str], list[tuple[float, float, float]]] = {}
    switch = None
    with tempfile.TemporaryDirectory(prefix=".fer-bench-reader-", dir=data.parent) as tmp:
        links = make_links(sources, max(args.clips), Path(tmp))
        for chunk_clips in variants.values():  # untimed: imports, first-use costs of DALI and the DataLoader
            measure(lambda c=chunk_clips: make_loader(args, links[:min(args.clips)], c, f"{tmp}/warm-up.txt"), 2)
        for round_ in range(args.rounds):
            for n in args.clips:
                for cache in caches:
                    names = list(variants)
                    shift = round_ % len(names)
                    for name in names[shift:] + names[:shift]:  # a different variant goes first each round
                        if cache == "cold":
                            drop_caches()
                        else:
                            warm(links[:n])
                        result = measure(lambda name=name, n=n: make_loader(args, links[:n], variants[name],
                                                                           f"{tmp}/list-{n}.txt"),
                                         args.baseline_batches if variants[name] is None else args.steady_batches)
                        times.setdefault((n, cache, name), []).append(result)
                        print(f"round {round_ + 1}/{args.rounds}, {n:,} clips, {cache}, {name}: build "
                              f"{result[0]:.2f} s, first batch {result[1]:.2f} s, steady {result[2]:,.0f} frames/s",
                              flush=True)
        if args.switch_rounds > 0 and chunk > 0:
            switch = measure_switch(args, links[:max(args.clips)], chunk, f"{tmp}/switch.txt")
    return report(args, data, sources, variants, caches, times, switch, cold_note, load_note())


def make_links(sources, count: int, folder: Path) -> list[tuple[str, int, int, int]]:
    """``count`` file-list entries (link path, label, 0, range end), links made round-robin over the sources."""
    entries = []
    for i in range(count):
        source = sources[i % len(sources)]
        link = folder / f"c{i:06d}.mp4"
        os.link(source.clip, link)
        entries.append((str(link), source.label, 0, 0))
    return entries


def _entries(args, links) -> list[tuple[str, int, int, int]]:
    return [(clip, label, 0, args.range) for clip, label, _, _ in links]


def make_loader(args, links, chunk_clips: int | None, file_list: str):
    """Rank 0 of 2, shuffled training sampling; ``chunk_clips`` None: the baseline loader."""
    from dali_pipelines.spec import FrameSampling, Normalization, PipelineSpec

    sampling = FrameSampling(args.sequence_length, 1, args.step)
    per_batch = args.batch_size // args.sequence_length
    entries = _entries(args, links)
    if chunk_clips is None:
        from lightning_fer.data.baseline import BaselineFrameLoader, ClipFrameDataset
        from lightning_fer.data.splits import ClipRange

        ranges = [ClipRange(c, label, s, e, "S", Path(c).stem) for c, label, s, e in entries]
        dataset = ClipFrameDataset(ranges, sampling, Normalization(), shuffle=True, seed=0, shard_id=0, num_shards=2)
        return BaselineFrameLoader(dataset, per_batch, True, args.threads)
    from dali_pipelines.loader import DaliFrameLoader
    from lightning_fer.video_io import video_info

    spec = PipelineSpec(entries=entries, file_list=file_list, batch_size=per_batch, sampling=sampling, shuffle=True,
                        seed=0, shard_id=0, num_shards=2, num_threads=args.threads,
                        clip_size=video_info(entries[0][0]).width)  # 128-px clips: the centre 112 is read
    return DaliFrameLoader(spec, train=True, epoch_fn=lambda: 0, chunk_clips=chunk_clips)


def measure(make: Callable[[], Iterable], steady_batches: int) -> tuple[float, float, float]:
    """(build s, first batch s, steady frames/s over the next batches, at most the rest of the epoch)."""
    start = time.perf_counter()
    loader = make()
    built = time.perf_counter()
    batches = iter(loader)
    next(batches)
    first = time.perf_counter()
    frames = 0
    for _ in range(min(steady_batches, len(loader) - 1)):
        frames += next(batches)[0].shape[0]
    seconds = time.perf_counter() - first
    batches.close()
    del batches, loader
    return built - start, first - built, frames / seconds if frames else float("nan")


def measure_switch(args, links, chunk: int, file_list: str) -> dict:
    """Frames/s from the first batch to the end of the chunked loader's third chunk (two chunk switches, the
    next chunk's indexing inside the window), beside one pipeline over the same batches; warm cache,
    ``--switch-rounds`` rounds, the two taking turns."""
    from dali_pipelines.epoch_order import chunk_pieces, epoch_shard
    from dali_pipelines.spec import FrameSampling

    sampling = FrameSampling(args.sequence_length, 1, args.step)
    per_batch = args.batch_size // args.sequence_length
    pieces = epoch_shard(_entries(args, links), sampling, 0, 0, True, 0, 2)
    chunks = chunk_pieces(pieces, per_batch, chunk)
    if len(chunks) < 4:
        return {}
    span = sum(len(s) for c in chunks[:3] for _, s in c) // per_batch - 1
    out: dict = {"batches": span, "clips": len(links), "chunked": [], "one pipeline": []}
    for round_ in range(args.switch_rounds):
        sides = [("chunked", chunk), ("one pipeline", 0)]
        for label, clips in sides if round_ % 2 == 0 else sides[::-1]:
            warm(links)
            out[label].append(measure(lambda c=clips: make_loader(args, links, c, file_list), span)[2])
            print(f"chunk switches, {len(links):,} clips, {label}: {out[label][-1]:,.0f} frames/s over {span} "
                  f"batches", flush=True)
    return out


def warm(links) -> None:
    """Warm the dentries, inodes and data of the linked clips (what a recent read of them leaves cached)."""
    for clip, *_ in links:
        os.stat(clip)
    for clip in {os.path.realpath(c) for c, *_ in links[:64]}:
        Path(clip).read_bytes()


def drop_caches() -> str | None:
    """Drop the page cache, dentries and inodes; the reason as text when this process may not."""
    try:
        subprocess.run(["sync"], check=False)
        with open(DROP_CACHES, "w") as handle:
            handle.write("3\n")
        return None
    except OSError as err:
        return f"cold cache not measured: cannot write {DROP_CACHES} ({err.strerror}; needs root on the host)"


def report(args, data, sources, variants, caches, times, switch, cold_note, load: str) -> BenchResult:
    rows, startup = [], {}
    for n in args.clips:
        for cache in caches:
            for name in variants:
                values = times[(n, cache, name)]
                build, first, fps = (statistics.median(v[i] for v in values) for i in range(3))
                totals = [v[0] + v[1] for v in values]
                startup[(n, cache, name)] = statistics.median(totals)
                steadies = [v[2] for v in values]
                rows.append([f"{n:,}", cache, name, build, first, statistics.median(totals),
                             f"{min(totals):.2f}-{max(totals):.2f}", fps,
                             f"{min(steadies):,.0f}-{max(steadies):,.0f}"])
    names = list(variants)
    notes = []
    for cache in caches:
        for name in names:
            growth = [f"{(startup[(b, cache, name)] / startup[(a, cache, name)]) ** (1 / math.log10(b / a)):.1f}x "
                      f"({a:,}->{b:,})" for a, b in zip(args.clips, args.clips[1:], strict=False) if b > a]
            if growth:
                notes.append(f"start-up growth per 10x clips, {cache}, {name}: {', '.join(growth)}")
    largest, smallest = max(args.clips), min(args.clips)
    chunked = names[1]
    for cache in caches:
        goal = START_GOAL_S if cache == "warm" else COLD_GOAL_S
        seconds = startup[(largest, cache, chunked)]
        where = "" if largest >= 100_000 else f"; measured at {largest:,} only"
        notes.append(f"start-up at {largest:,} clips, {cache}, {chunked}: {seconds:.2f} s per rank (goal < {goal:g} s"
                     f" at 100,000: {'met' if seconds < goal else 'NOT met'}{where})")
    fps = {name: statistics.median(v[2] for v in times[(largest, "warm", name)]) /
           statistics.median(v[2] for v in times[(smallest, "warm", name)]) for name in names if "warm" in caches}
    if fps:
        notes.append("steady frames/s at " + f"{largest:,} / at {smallest:,} clips, warm: " +
                     ", ".join(f"{name} {ratio:.2f}" for name, ratio in fps.items()) +
                     f" (goal: chunked within {STEADY_GOAL:.0%})")
    if switch:
        chunked_fps, whole_fps = (statistics.median(switch[k]) for k in ("chunked", "one pipeline"))
        notes.append(f"steady across two chunk switches ({switch['clips']:,} clips, the {switch['batches']} batches "
                     f"after the first, i.e. chunks 0-2, warm, median of {len(switch['chunked'])} alternating rounds): "
                     f"chunked {chunked_fps:,.0f} frames/s ({', '.join(f'{v:,.0f}' for v in switch['chunked'])}), "
                     f"one pipeline {whole_fps:,.0f} ({', '.join(f'{v:,.0f}' for v in switch['one pipeline'])}), "
                     f"ratio {chunked_fps / whole_fps:.2f} (goal >= {1 - STEADY_GOAL:.2f})")
    if cold_note:
        notes.append(cold_note)
    notes += [f"N clips = N hard links to {len(sources)} clips of {data} (frames {args.range} each: range [0, "
              f"{args.range})); rank 0 of 2 (its shard of epoch 0), shuffled, runs of {args.sequence_length} frames "
              f"every {args.step}, batch {args.batch_size} frames; DALI CPU reader, {args.threads} thread(s); "
              f"baseline DataLoader with {args.threads} worker(s)",
              f"steady: {args.steady_batches} batches after the first (baseline {args.baseline_batches}), at most the "
              f"rest of the epoch; median of {args.rounds} round(s), variants alternating; spreads are min-max",
              "cold: sync + drop_caches 3 before each measurement; hard links share the source clips' data, so cold "
              "pays the per-name look-ups and opens, not reading N different files", load]
    ratio = startup[(largest, "warm", names[0])] / startup[(largest, "warm", chunked)] if "warm" in caches else None
    return BenchResult(
        name=NAME, title="Reader start-up and throughput vs number of clips (rank 0 of 2)",
        columns=["clips", "cache", "loader", "build s", "first batch s", "start-up s", "spread s", "steady frames/s",
                 "spread frames/s"],
        rows=rows, ratio=ratio, ratio_label=f"start-up at {largest:,} clips, warm: one pipeline / chunked",
        notes=notes,
    )
