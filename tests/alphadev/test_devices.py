"""Self-play and the learner split over several devices (two host devices stand in for them)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import jax
import numpy as np
import pytest

from alphadev import devices
from alphadev.config import load_config
from alphadev.rundir import RunDir
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
    assert mesh.size == len(jax.devices())
    x = devices.shard(np.arange(8 * mesh.size), mesh)
    assert sum(s.data.shape[0] for s in x.addressable_shards) == 8 * mesh.size


def test_a_batch_the_devices_cannot_split_is_one_line_before_anything_is_written(tmp_path, monkeypatch):
    monkeypatch.setattr(jax, "local_device_count", lambda: 3)  # as a 3-GPU machine would have
    config = load_config("sort2", selfplay_batch=4, target_length=0)
    with pytest.raises(ValueError, match=r"^selfplay_batch 4 does not divide by the 3 devices .*multiple of 3, e.g. 3 or 6"):
        Trainer(config, tmp_path / "run", quiet=True)
    assert not (tmp_path / "run").exists()
    with pytest.raises(ValueError, match="learner.batch 256"):
        devices.check_divides(3, selfplay_batch=6, **{"learner.batch": 256})
    devices.check_divides(2, selfplay_batch=4)


def _free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_two_processes_train_together_and_end_with_the_same_parameters(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(ROOT), XLA_FLAGS="--xla_cpu_multi_thread_eigen=false")
    port, out = str(_free_port()), str(tmp_path / "run")
    procs = [subprocess.Popen([sys.executable, "-m", "tests.alphadev.distributed_child", port, str(k), out], cwd=ROOT,
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for k in (0, 1)]
    results = []
    for p in procs:
        stdout, stderr = p.communicate(timeout=600)
        assert p.returncode == 0, stderr[-3000:]
        results.append(json.loads(stdout.strip().splitlines()[-1]))
    first, second = results
    assert first["processes"] == second["processes"] == 2 and first["iteration"] == second["iteration"] >= 2
    assert first["params"] == second["params"]           # the gradient was averaged over both
    assert first["episodes"] != second["episodes"]       # each played its own episodes ...
    assert first["shapes"][0][1] == second["shapes"][0][1] == 4   # ... its own 4 of them
    run = RunDir(out)  # process 0 alone wrote the run directory
    assert json.loads((tmp_path / "run" / "run.json").read_text())["game"] == "sort2"
    assert run.metrics()["iteration"][-1] >= 2 and (tmp_path / "run" / "checkpoints").is_dir()


@pytest.mark.parametrize("argv, message", [
    (["--coordinator", "localhost:1"], "go together"),
    (["--coordinator", "localhost", "--num-processes", "2", "--process-id", "0"], "HOST:PORT"),
    (["--coordinator", "h:1", "--num-processes", "2", "--process-id", "2"], "must be in 0..1"),
    (["--distributed", "--process-id", "0"], "give it alone")])
def test_bad_process_options_are_one_line(tmp_path, capsys, argv, message):
    from alphadev.cli import main
    assert main(["train", "sort2", "--out", str(tmp_path / "r"), *argv]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0] and not (tmp_path / "r").exists()


@pytest.mark.parametrize("game", ["sort4", "sort5", "varsort3"])
def test_the_accelerator_config_loads_over_every_shipped_game_config(game):
    config = load_config(game, str(ROOT / "experiments/launch/gpu.json"))
    assert config.selfplay_batch > load_config(game).selfplay_batch and config.net.dim > load_config(game).net.dim
    devices.check_divides(8, selfplay_batch=config.selfplay_batch, **{"learner.batch": config.learner.batch})


def test_the_launch_scripts_parse():
    scripts = [*sorted((ROOT / "experiments/launch").glob("*.s*")), ROOT / "experiments/device_check.sh"]
    assert len(scripts) == 4
    for script in scripts:
        run = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
        assert run.returncode == 0, f"{script}: {run.stderr}"
