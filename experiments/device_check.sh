#!/usr/bin/env bash
# The prepared check for a lent GPU machine, under 8 minutes, with the same code as on a CPU:
# the devices JAX sees, sort4 from scratch with the accelerator config until 28 instructions or
# 5 minutes (time to 28 from its metrics), then sort5's first iterations part by part.
#
#   OUT=/tmp/check experiments/device_check.sh
#
# Python: PY (default python3) must import jax with the GPU. Packages it lacks are installed
# from wheels in .whl/ when that folder exists (a machine with no registry: download them
# elsewhere with `pip download --only-binary=:all: -d .whl mctx unicorn capstone iced-x86
# tensorboardX ...`), else with pip from the registry.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-python3}
OUT=${OUT:-/tmp/device_check}
mkdir -p "$OUT"
if [ -d .whl ]; then
  $PY -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/*.whl
  export PYTHONPATH=/tmp/site
elif ! $PY -c "import mctx, unicorn, capstone, iced_x86, tensorboardX" 2>/dev/null; then
  $PY -m pip install -q -e '.[cuda]'
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 ALPHADEV_JAX_CACHE="$OUT/jax-cache"
$PY -c "import jax; print('jax', jax.__version__, 'devices:', jax.devices())"
start=$(date +%s)
timeout 330 $PY -m alphadev.cli train sort4 --seed 5 --minutes 5 --config experiments/launch/gpu.json \
    --out "$OUT/sort4" || echo "sort4 ended with status $?"
$PY - "$OUT/sort4" <<'PY'
import sys
from alphadev.rundir import RunDir
m = RunDir(sys.argv[1]).metrics()
at = next((t for t, n in zip(m.get("elapsed_s", []), m.get("best_length", [])) if 0 < n <= 28), None)
print(f"sort4: best {int(m['best_length'][-1]) if m else '-'}; time to 28: {f'{at:.0f} s' if at else 'not reached'}; "
      f"{int(m['iteration'][-1]) if m else 0} iterations, {int(m['episodes'][-1]) if m else 0} episodes")
PY
timeout 150 $PY experiments/profile_iteration.py sort5 --iterations 2 --config experiments/launch/gpu.json \
    || echo "sort5 profile ended with status $?"
echo "device check: $(( $(date +%s) - start )) s"
