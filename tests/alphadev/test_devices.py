"""Self-play and the learner split over several devices (two host devices stand in for them)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from alphadev import devices
from alphadev.config import load_config
from alphadev.train import Trainer

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_two_devices_split_the_episodes_and_the_learner_batch(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(ROOT),
               XLA_FLAGS="--xla_force_host_platform_device_count=2 --xla_cpu_multi_thread_eigen=false")
    run = subprocess.run([sys.executable, "-m", "tests.alphadev.devices_child", str(tmp_path / "run")], cwd=ROOT,
                         env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    placed = json.loads(run.stdout.strip().splitlines()[-1])
    assert placed["devices"] == placed["mesh"] == 2
    # Four episodes, two on each device; trajectories are time first, [T, B].
    assert placed["final_length"] == [[0, [2]], [1, [2]]]
    assert [shape[1] for _, shape in placed["actions"]] == [2, 2]
    # The learner batch of 16 is split 8 + 8; the parameters are whole on both devices.
    assert [shape[0] for _, shape in placed["obs"]] == [8, 8] and [s[0] for _, s in placed["policy"]] == [8, 8]
    assert len(placed["params"]) == 2 and placed["params"][0][1] == placed["params"][1][1]
    assert placed["iterations"] >= 2 and placed["finite"] and set(placed["metrics_devices"]) == {2.0}


def test_one_device_is_the_mesh_of_this_process(tmp_path):
    mesh = devices.make_mesh()
    assert mesh.size == len(__import__("jax").devices())
    x = devices.shard(np.arange(8 * mesh.size), mesh)
    assert sum(s.data.shape[0] for s in x.addressable_shards) == 8 * mesh.size


def test_a_batch_the_devices_cannot_split_is_one_line_before_anything_is_written(tmp_path, monkeypatch):
    mesh = devices.make_mesh()

    class Three:  # a mesh of three devices, as a 3-GPU machine would have
        size = 3
    monkeypatch.setattr(devices, "make_mesh", lambda: Three())
    config = load_config("sort2", selfplay_batch=4, target_length=0)
    with pytest.raises(ValueError, match=r"^selfplay_batch 4 does not divide by the 3 devices .*multiple of 3"):
        Trainer(config, tmp_path / "run", quiet=True)
    assert not (tmp_path / "run").exists()
    with pytest.raises(ValueError, match="learner.batch 256"):
        devices.check_divides(Three(), selfplay_batch=6, **{"learner.batch": 256})
    devices.check_divides(mesh, selfplay_batch=4)
