#!/usr/bin/env bash
# On a machine with a CUDA device, in about 5 minutes: the CUDA tests, the engine benchmark
# on the device, and a packed slice of the scaling grid on the device and on the CPU, with
# ratios. Record what it prints in benchmarks/README.md with the device named.
#   make gpu-check          (or: bash benchmarks/gpu_check.sh, PYTHON=... to choose python)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
DEVICE=${DEVICE:-cuda}
if [[ $DEVICE == cuda* ]]; then
    "$PY" -c "import sys, torch; sys.exit(0 if torch.cuda.is_available() else 'gpu_check: torch sees no CUDA device (torch ' + torch.__version__ + ', built for CUDA ' + str(torch.version.cuda) + ')')"
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
fi
echo "== CUDA tests"
"$PY" -m pytest -q -rs tests/test_training.py -k "cuda"
echo "== engine benchmark on $DEVICE"
"$PY" benchmarks/bench_torch_engine.py --device "$DEVICE" --seconds 1.0
echo "== packed slice of the scaling grid: $DEVICE against the CPU"
"$PY" benchmarks/bench_device.py --device "$DEVICE" "$@"
