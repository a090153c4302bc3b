#!/usr/bin/env bash
# The GPU check in one command (see benchmarks/gpu_check.py): installs the carried wheelhouse offline
# when needed, runs every check on the first GPU and writes benchmarks/results/gpu_check.{json,md}.
# Build the wheelhouse first, where the package index is reachable:
#   python benchmarks/gpu_check.py --build-wheelhouse .whl/gpu_check
set -euo pipefail
cd "$(dirname "$0")/.."
exec "${PYTHON:-python}" benchmarks/gpu_check.py --wheelhouse .whl/gpu_check --out benchmarks/results "$@"
