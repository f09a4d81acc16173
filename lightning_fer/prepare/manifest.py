"""The dataset manifest (OUT/manifest.csv), prepare.json and failures.csv, and shard parts.

Downstream code (DALI pipelines, data modules) reads only these files. Every file is written to a
temporary name and renamed. A SLURM array shard writes OUT/manifests/part-IIII-of-NNNN.csv and a
.json beside it (parameters, pixel sums, summary); ``merge_parts`` adds the parts up into the same
files a single run writes.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pandas as pd

from dali_pipelines.spec import MODEL_INPUT_SIDE, Normalization
from lightning_fer.atomic_write import remove_partials, write_text
from lightning_fer.errors import UserError
from lightning_fer.prepare.params import PrepareParams
from lightning_fer.prepare.summary import PrepareSummary

COLUMNS = ("clip", "label", "label_index", "subject", "video_id", "source", "frames", "fps", "detection_rate",
           "frames_reused", "frames_dropped", "box_size_mean", "box_size_std", "params_id")
_DTYPES = {"clip": str, "label": str, "subject": str, "video_id": str, "source": str, "params_id": str}
PREPARE_INFO = "prepare.json"  # the crop pass's parameters and gray statistics, written last
_PART = re.compile(r"^part-(\d{4})-of-(\d{4})\.csv$")


def _atomic_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text(path, text)


def rows_frame(rows: list[dict]) -> pd.DataFrame:
    """Manifest rows as a DataFrame with the contract's columns, sorted by video_id."""
    frame = pd.DataFrame(rows, columns=list(COLUMNS))
    return frame.sort_values("video_id", kind="stable").reset_index(drop=True)


def write_csv(frame: pd.DataFrame, path: Path) -> None:
    _atomic_text(path, frame.to_csv(index=False))


def read_manifest(path_or_dir: str | Path) -> pd.DataFrame:
    """Read and validate a manifest (the CSV, or the folder holding manifest.csv)."""
    path = Path(path_or_dir)
    if path.is_dir():
        path = path / "manifest.csv"
    if not path.is_file():
        raise UserError(f"{path}: no manifest here; run `fer prepare ROOT OUT` first")
    try:
        frame = pd.read_csv(path, dtype=_DTYPES, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise UserError(f"{path}: not a readable manifest CSV ({err})") from err
    missing = [c for c in COLUMNS if c not in frame.columns]
    if missing:
        raise UserError(f"{path}: manifest lacks columns {', '.join(missing)}")
    try:
        frame = frame.astype({"label_index": int, "frames": int, "fps": float, "detection_rate": float,
                              "frames_reused": int, "frames_dropped": int})
    except (ValueError, TypeError) as err:
        raise UserError(f"{path}: manifest has a bad numeric value ({err})") from err
    if frame["video_id"].duplicated().any():
        raise UserError(f"{path}: duplicate video_id {frame['video_id'][frame['video_id'].duplicated()].iloc[0]!r}")
    return frame[list(COLUMNS)]


def read_prepare_info(data_dir: str | Path) -> dict:
    """OUT/prepare.json (parameters, gray statistics, summary); UserError naming the file when unreadable."""
    path = Path(data_dir) / PREPARE_INFO
    try:
        info = json.loads(path.read_text())
    except OSError as err:
        raise UserError(f"{path}: cannot read the crop pass's record ({err.strerror or err})") from err
    except ValueError as err:
        raise UserError(f"{path}: not valid JSON ({err})") from err
    if not isinstance(info, dict):
        raise UserError(f"{path}: expected a JSON object")
    return info


def _geometry_record(params: dict) -> dict[str, int]:
    recorded = PrepareParams.from_dict(params)
    return {"clip_size": recorded.clip_size, "input_size": recorded.input_size}


def clip_geometry(info: dict | None) -> tuple[int, int]:
    """(clip side, model input side) of a prepared folder from its prepare.json: the top-level record, else its
    parameters (folders prepared before 128-pixel clips say ``size``: 112 and 112), else 112 and 112."""
    info = info or {}
    if "clip_size" in info and "input_size" in info:
        return int(info["clip_size"]), int(info["input_size"])
    params = info.get("params")
    if isinstance(params, dict) and ("size" in params or "clip_size" in params):
        recorded = PrepareParams.from_dict(params)
        return recorded.clip_size, recorded.input_size
    return MODEL_INPUT_SIDE, MODEL_INPUT_SIDE


def dataset_normalization(info: dict, source: str | Path) -> Normalization:
    """``dataset`` normalization from prepare.json's gray statistics (``source`` names the file in errors)."""
    stats = info.get("stats") or {}
    try:
        return Normalization("dataset", mean=float(stats["gray_mean"]), std=float(stats["gray_std"]))
    except (KeyError, TypeError, ValueError) as err:
        raise UserError(f"{source}: dataset normalization needs stats.gray_mean/gray_std ({err})") from err


def gray_stats(sums: list[float]) -> dict[str, float]:
    """Mean and std of preprocessed pixels from (sum, sum of squares, count)."""
    total, squares, count = sums
    if count <= 0:
        return {"gray_mean": float("nan"), "gray_std": float("nan")}
    mean = total / count
    return {"gray_mean": mean, "gray_std": math.sqrt(max(0.0, squares / count - mean * mean))}


def write_outputs(out: Path, frame: pd.DataFrame, params: dict, params_id: str, sums: list[float],
                  summary: PrepareSummary) -> None:
    """The final files of a run: manifest.csv, failures.csv and prepare.json (written last)."""
    for name in ("manifest.csv", "failures.csv", PREPARE_INFO):  # temp files of a killed run
        remove_partials(out / name)
    write_csv(frame, out / "manifest.csv")
    failures = pd.DataFrame([vars(f) for f in summary.failures], columns=["source", "reason", "detail"])
    write_csv(failures, out / "failures.csv")
    info = {"params": params, "params_id": params_id, **_geometry_record(params), "stats": gray_stats(sums),
            "summary": summary.to_dict()}
    _atomic_text(out / PREPARE_INFO, json.dumps(info, indent=2) + "\n")


def part_name(shard: int, num_shards: int) -> str:
    return f"part-{shard:04d}-of-{num_shards:04d}"


def write_part(out: Path, shard: int, num_shards: int, frame: pd.DataFrame, params: dict, params_id: str,
               sums: list[float], summary: PrepareSummary) -> Path:
    """One shard's rows and its sidecar JSON (written after the CSV: the JSON marks the part complete)."""
    base = out / "manifests" / part_name(shard, num_shards)
    write_csv(frame, base.with_suffix(".csv"))
    info = {"params": params, "params_id": params_id, "gray_sums": sums, "summary": summary.to_dict()}
    _atomic_text(base.with_suffix(".json"), json.dumps(info, indent=2) + "\n")
    return base.with_suffix(".csv")


def merge_parts(out: str | Path) -> PrepareSummary:
    """Merge OUT/manifests/part-*-of-NNNN into OUT/manifest.csv, failures.csv and prepare.json."""
    out = Path(out)
    parts = sorted(p for p in (out / "manifests").glob("part-*-of-*.csv") if _PART.match(p.name))
    if not parts:
        raise UserError(f"{out / 'manifests'}: no part-IIII-of-NNNN.csv files to merge")
    totals = {int(_PART.match(p.name).group(2)) for p in parts}
    if len(totals) != 1:
        raise UserError(f"{out / 'manifests'}: parts of different shard counts {sorted(totals)}; remove stale ones")
    num_shards = totals.pop()
    missing = [part_name(i, num_shards) for i in range(num_shards)
               if not (out / "manifests" / f"{part_name(i, num_shards)}.json").is_file()]
    if missing:
        raise UserError(f"{out / 'manifests'}: shards not finished: {', '.join(missing)}")
    frames, summary, sums, params, params_id = [], PrepareSummary(), [0.0, 0.0, 0.0], None, None
    for shard in range(num_shards):
        base = out / "manifests" / part_name(shard, num_shards)
        info = json.loads(base.with_suffix(".json").read_text())
        if params_id is not None and info["params_id"] != params_id:
            raise UserError(f"{base}.json: params_id {info['params_id']} differs from {params_id} of other shards")
        params, params_id = info["params"], info["params_id"]
        frames.append(read_manifest(base.with_suffix(".csv")))
        summary = summary.add(PrepareSummary.from_dict(info["summary"]))
        sums = [a + b for a, b in zip(sums, info["gray_sums"], strict=True)]
    merged = rows_frame(pd.concat(frames).to_dict("records"))
    if merged["video_id"].duplicated().any():
        raise UserError(f"{out / 'manifests'}: the same video_id in several parts; were shards run twice?")
    write_outputs(out, merged, params, params_id, sums, summary)
    return summary
