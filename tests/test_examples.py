"""examples/min3.py, a user's own kernel defined outside the package, through every tool."""
import json
import runpy
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import games
from tests.alphadev.test_export_run import _driver

ROOT = Path(__file__).resolve().parents[1]
MIN3 = ROOT / "examples" / "min3.py"


def test_min3_passes_the_conformance_harness():
    runpy.run_path(str(MIN3))
    summary = games.conformance.check(games.make("min3"), episodes=8, seed=0)
    assert summary.episodes == 8 and summary.game == "min3"


def _cli(*args, timeout=600):
    command = [sys.executable, "-m", "alphadev.cli", "--tasks", str(MIN3), *map(str, args)]
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd=ROOT)


@pytest.mark.slow
def test_min3_through_train_verify_bench_and_export(tmp_path):
    run = tmp_path / "run"
    train = _cli("train", "min3", "--iterations", "2", "--out", run)
    assert (run / "best.json").exists(), train.stdout + train.stderr
    record = run / "best.json"
    verify = _cli("verify", record, "--random", "2000")
    assert verify.returncode == 0 and "unicorn: passed   native: passed" in verify.stdout, verify.stdout + verify.stderr
    bench = _cli("bench", record, "--reps", "5", "--min-random", "2000")
    assert bench.returncode == 0 and "C ternaries (gcc -O3)" in bench.stdout, bench.stderr
    header = tmp_path / "kernel.h"
    export = _cli("export", record, "-o", header, "--min-random", "2000")
    assert export.returncode == 0, export.stderr
    # The header returns the minimum, through both of its forms.
    runpy.run_path(str(MIN3))
    (tmp_path / "driver.c").write_text(_driver(games.task("min3").signature, "alphadev_min3"))
    subprocess.run(["gcc", "-O2", "-Wall", "-Werror", "-o", str(tmp_path / "driver"), str(tmp_path / "driver.c")],
                   check=True, capture_output=True, text=True, cwd=tmp_path)
    values = np.random.default_rng(0).integers(-2**31, 2**31, (200, 3)).astype(np.int32)
    lines = ["200 12 0"] + [" ".join(map(str, v.view(np.uint8))) for v in values]
    out = subprocess.run([str(tmp_path / "driver")], input="\n".join(lines) + "\n", capture_output=True,
                         text=True, check=True, cwd=tmp_path).stdout
    results = np.array([line.split()[:2] for line in out.splitlines()], np.uint64).view(np.int64)
    assert (results == values.min(axis=1, keepdims=True)).all()
    assert json.loads(record.read_text())["verification"]["native"]
    # An unknown task without --tasks names the way to load it.
    plain = subprocess.run([sys.executable, "-m", "alphadev.cli", "show", str(record)], capture_output=True,
                           text=True, cwd=ROOT)
    assert plain.returncode == 2 and "--tasks FILE.py" in plain.stderr
