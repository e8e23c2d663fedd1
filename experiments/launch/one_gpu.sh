#!/usr/bin/env bash
# One machine with NVIDIA GPUs: `make run`'s set-up with JAX for CUDA, then sort4 with the
# accelerator config, every local GPU in one process. Usage: experiments/launch/one_gpu.sh [GAME] [SEED]
set -euo pipefail
cd "$(dirname "$0")/../.."
game=${1:-sort4}
seed=${2:-0}
make install EXTRAS=dev,cuda
.venv/bin/python -c "import jax; print('devices:', jax.devices())"
exec .venv/bin/alphadev train "$game" --seed "$seed" --config experiments/launch/gpu.json \
    --out "runs/$game-gpu-seed$seed"
