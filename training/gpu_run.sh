#!/usr/bin/env bash
# The GPU training run in one command (training/gpu_run.py says what it does and writes):
#   bash training/gpu_run.sh OUT_DIR [--minutes 9] [--preset gpu] [--device cuda]
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:?usage: bash training/gpu_run.sh OUT_DIR [--minutes M] [--preset P] [--device D]}"
shift
PYTHON="${PYTHON:-python3}"
exec "$PYTHON" -m training.gpu_run --out "$out" "$@"
