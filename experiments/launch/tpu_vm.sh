#!/usr/bin/env bash
# A Cloud TPU VM slice (e.g. v4-32): the same command on every worker, which find each other
# through the TPU metadata (`--distributed`). RUNS must be shared storage every worker mounts.
# Usage: experiments/launch/tpu_vm.sh TPU_NAME ZONE [GAME] [SEED]
set -euo pipefail
tpu=$1
zone=$2
game=${3:-sort5}
seed=${4:-0}
runs=${RUNS:-/mnt/shared/alphadev-runs}
gcloud compute tpus tpu-vm ssh "$tpu" --zone "$zone" --worker=all --command "
  set -e
  [ -d alphadev ] || git clone ${REPO:?set REPO to your alphadev repository URL} alphadev
  cd alphadev && python3 -m venv .venv && .venv/bin/pip install -q -e '.[dev]' 'jax[tpu]' \
      -f https://storage.googleapis.com/jax-releases/libtpu_releases.html
  ALPHADEV_JAX_CACHE=$runs/jax-cache .venv/bin/alphadev train $game --seed $seed --distributed \
      --config experiments/launch/gpu.json --out $runs/$game-tpu-seed$seed"
