"""The run directory: identity, the one-writer lock, repairs after a kill, metrics on resume,
damaged replay and archive files, and records kept when llvm-mca is missing."""
import json
import signal
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import isa
from alphadev.archive import Archive
from alphadev.config import load_config
from alphadev.replay import Replay
from alphadev.results import Record
from alphadev.rundir import RunDir, RunDirError, identity
from games.sort import sorting_network

CONFIG = load_config("sort2", target_length=0, selfplay_batch=4, net={"dim": 8, "layers": 1, "heads": 1},
                     search={"simulations": 4, "max_considered_actions": 4}).to_dict()


def _files(path):
    return sorted(str(p.relative_to(path)) for p in path.rglob("*"))


def test_a_new_run_gets_an_identity_and_a_mismatch_writes_nothing(tmp_path):
    run = RunDir(tmp_path / "run")
    run.claim(CONFIG)
    assert json.loads((tmp_path / "run" / "run.json").read_text()) == identity(CONFIG)
    run.release()
    before = _files(tmp_path / "run")
    others = {"game": dict(CONFIG, game="sort3"), "seed": dict(CONFIG, seed=1),
              "planner": dict(CONFIG, search=dict(CONFIG["search"], planner="muzero")),
              "config": dict(CONFIG, selfplay_batch=8)}
    for what, config in others.items():
        with pytest.raises(RunDirError, match="is the run of sort2 seed 0 planner exact" if what != "config"
                           else "started with another config"):
            RunDir(tmp_path / "run").claim(config)
    assert _files(tmp_path / "run") == before
    # `minutes` may change: a resumed run may be given more time; and where its checks run.
    RunDir(tmp_path / "run").claim(dict(CONFIG, minutes=99, check_workers=3))


def test_a_run_without_identity_is_refused(tmp_path):
    # A directory another tool (or an older alphadev) wrote: its best.json is no run of ours.
    (tmp_path / "old").mkdir()
    Record.of("sort3", sorting_network(3)).save(tmp_path / "old" / "best.json")
    with pytest.raises(RunDirError, match="holds a run without run.json.*delete"):
        RunDir(tmp_path / "old").claim(CONFIG)
    assert _files(tmp_path / "old") == ["best.json"]
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("not a run")  # other files are not a run
    RunDir(tmp_path / "mine").claim(CONFIG)


def test_one_writer_at_a_time_and_a_killed_writer_leaves_no_lock(tmp_path):
    first = RunDir(tmp_path / "run")
    first.claim(CONFIG)
    with pytest.raises(RunDirError, match=r"being written by another training \(pid \d+\)"):
        RunDir(tmp_path / "run").claim(CONFIG)
    first.release()
    # Another process takes the lock and is killed with SIGKILL: the lock goes with it.
    code = ("import json, sys, time; from alphadev.rundir import RunDir; run = RunDir(sys.argv[1]); "
            "run.claim(json.loads(sys.argv[2])); print('locked', flush=True); time.sleep(60)")
    child = subprocess.Popen([sys.executable, "-c", code, str(tmp_path / "run"), json.dumps(CONFIG)],
                             stdout=subprocess.PIPE, text=True)
    assert child.stdout.readline().strip() == "locked"
    with pytest.raises(RunDirError, match=f"pid {child.pid}"):
        RunDir(tmp_path / "run").claim(CONFIG)
    child.send_signal(signal.SIGKILL)
    child.wait()
    RunDir(tmp_path / "run").claim(CONFIG)


def test_claim_repairs_what_a_kill_leaves(tmp_path, capsys):
    run = RunDir(tmp_path / "run")
    run.claim(CONFIG)
    first = Record.of("sort2", isa.parse("mov eax, dword ptr [rdi]\n" * 3 + "mov ecx, eax\n" * 7))
    run.add(first)
    # Killed between the record and best.json, and during another write.
    Record.of("sort2", sorting_network(2)).save(tmp_path / "run" / "records" / "0002.json")
    (tmp_path / "run" / "records" / "0003.json.tmp").write_text("{")
    (tmp_path / "run" / "best.json.tmp").write_text("{")
    run.release()
    RunDir(tmp_path / "run").claim(CONFIG)
    assert "best.json was behind 0002.json" in capsys.readouterr().err
    assert RunDir(tmp_path / "run").best().length == len(sorting_network(2))
    assert not list((tmp_path / "run").rglob("*.tmp"))
    # Numbers continue after the highest, whatever was removed.
    (tmp_path / "run" / "records" / "0001.json").unlink()
    assert RunDir(tmp_path / "run").add(first).name == "0003.json"


def test_metrics_truncate_to_the_restored_iteration(tmp_path):
    run = RunDir(tmp_path / "run")
    run.claim(CONFIG)
    for i in range(1, 6):
        run.log(iteration=i, loss=1.0 / i)
    with (tmp_path / "run" / "metrics.csv").open("a") as f:
        f.write("6,0.1")  # a row a kill cut short
    assert run.metrics()["iteration"] == [1, 2, 3, 4, 5]
    assert run.truncate_metrics(3) == 2
    run.log(iteration=4, loss=0.5)
    assert run.metrics()["iteration"] == [1, 2, 3, 4]
    (tmp_path / "run" / "metrics.csv").write_text("iteration,loss\n1,0.5\nnonsense\n2,0.4\n")
    with pytest.raises(RunDirError, match="metrics.csv: line 3 is not a row of 2 numbers; move it aside"):
        run.truncate_metrics(3)


def test_a_resumed_run_with_more_columns_widens_metrics(tmp_path):
    # A run started by an older alphadev, resumed by one that logs another column.
    run = RunDir(tmp_path / "run")
    run.claim(CONFIG)
    run.log(iteration=1, loss=0.5)
    run.log(iteration=2, loss=0.4, check_wait_s=0.01)
    run.log(iteration=3, check_wait_s=0.02)
    metrics = run.metrics()  # read back whole: one header, every row as long
    assert metrics["iteration"] == [1, 2, 3] and metrics["check_wait_s"][1:] == [0.01, 0.02]
    assert np.isnan(metrics["check_wait_s"][0]) and np.isnan(metrics["loss"][2])
    assert run.truncate_metrics(2) == 1 and run.metrics()["loss"] == [0.5, 0.4]


def test_damaged_replay_and_archive_files_are_named_in_one_line(tmp_path):
    (tmp_path / "replay.npz").write_bytes(b"PK\x03\x04 cut short")
    with pytest.raises(ValueError, match=r"replay.npz: not a whole replay buffer \(.*\); delete it") as e:
        Replay(8, None).load(tmp_path / "replay.npz")
    assert "\n" not in str(e.value)
    np.savez(tmp_path / "archive.npz", keys=np.zeros(2, np.uint64))
    with pytest.raises(ValueError, match=r"archive.npz: not a whole archive \(KeyError.*\); delete it"):
        Archive(4, 10).load(tmp_path / "archive.npz")


def test_without_llvm_mca_a_record_is_kept_with_null_cycles(tmp_path, monkeypatch, capsys):
    from alphadev.train import Trainer
    from alphadev.selfplay import Trajectory

    monkeypatch.setenv("PATH", str(tmp_path))  # no llvm-mca on it
    isa.latency._mca_binary.cache_clear()
    isa.latency.mca.cache_clear()
    try:
        config = load_config("sort2", target_length=0, selfplay_batch=4, archive_width=0,
                             net={"dim": 8, "layers": 1, "heads": 1}, search={"simulations": 4})
        trainer = Trainer(config, tmp_path / "run", quiet=True)
        game = trainer.game
        state, step = jax.jit(game.init)(), jax.jit(game.step)
        for a in game.moves_for(sorting_network(2)):
            state = step(state, jnp.int32(a))
        final = jax.tree_util.tree_map(lambda x: x[None], state)
        trainer._consider(Trajectory(actions=None, policy=None, rewards=None, latency_rewards=None, valid=None,
                                     values=None, best_q=None, cells=None, children=None, final=final))
        trainer._record_checked(wait=True)  # llvm-mca was looked for in the worker, on this PATH
    finally:
        isa.latency._mca_binary.cache_clear()
        isa.latency.mca.cache_clear()
    best = json.loads((tmp_path / "run" / "best.json").read_text())
    assert best["length"] == len(sorting_network(2)) and best["latency"]["cycles"] is None
    assert len(list((tmp_path / "run" / "records").glob("*.json"))) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "llvm-mca not found" in err and "cycles: null" in err


def test_a_second_train_in_one_process_waits_for_the_first_to_end(tmp_path):
    from alphadev.train import Trainer

    config = load_config("sort2", target_length=0, archive_width=0, net={"dim": 8, "layers": 1, "heads": 1})
    first = Trainer(config, tmp_path / "run", quiet=True)
    with pytest.raises(RunDirError, match="another training"):
        Trainer(config, tmp_path / "run", quiet=True)
    first.train(max_iterations=0)  # releases the directory when it returns
    Trainer(config, tmp_path / "run", quiet=True)
