"""Fault injection: a short sort2 training killed with SIGKILL at chosen and at random points
(during record, best.json, replay, archive, metrics and checkpoint writes), stopped by SIGTERM and
SIGINT, resumed each time; then every file of its run directory damaged in turn, and a second
writer. No record is lost, best.json never gets worse, the metrics count each iteration once,
and every problem is one line on stderr (exit 2) or a recovery with a one-line warning.
"""
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from alphadev.cli import main

pytestmark = pytest.mark.slow  # a dozen training processes

CHILD = Path(__file__).with_name("fault_child.py")
TINY = {"target_length": 0, "minutes": 30, "selfplay_batch": 8, "checkpoint_every": 2, "archive_width": 8,
        "net": {"dim": 8, "layers": 1, "heads": 1}, "search": {"simulations": 4, "max_considered_actions": 4},
        "learner": {"batch": 8, "steps_per_iteration": 1}}
# Kill points, in order: the record ones first, while sort2 still improves (its first records
# come within the first iterations); "random:S" is a SIGKILL at a time drawn with seed S.
CHAIN = [("random:1", 1), ("record", 1), ("between", 1), ("best", 1), ("replay", 2), ("archive", 3),
         ("metrics", 2), ("checkpoint", 2), ("random:2", 1)]
ITERATIONS = 14  # per process


def _env(cache):
    # The compilation cache spares every process after the first most of its compilation.
    root = str(Path(__file__).resolve().parents[2])
    return {**os.environ, "PYTHONPATH": root + os.pathsep + os.environ.get("PYTHONPATH", ""),
            "JAX_COMPILATION_CACHE_DIR": str(cache), "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0",
            "JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES": "0"}


def _state(run):
    """(record number -> text, best.json's length or None, metrics iterations)."""
    records = {int(p.stem): p.read_text() for p in (run / "records").glob("*.json")}
    best = json.loads((run / "best.json").read_text())["length"] if (run / "best.json").exists() else None
    lines = (run / "metrics.csv").read_text().splitlines()[1:] if (run / "metrics.csv").exists() else []
    return records, best, lines


def _check(run, before, history):
    records, best, _ = _state(run)
    old_records, old_best = before
    assert sorted(records) == list(range(1, len(records) + 1)), f"record numbers {sorted(records)}"
    for n, text in old_records.items():  # a whole record is never lost or changed
        assert records.get(n) == text, f"record {n} lost or changed"
    if old_best is not None:
        assert best is not None and best <= old_best, f"best.json went from {old_best} to {best}"
    lengths = [json.loads(t)["length"] for _, t in sorted(records.items())]
    assert lengths == sorted(lengths, reverse=True) and len(set(lengths)) == len(lengths), lengths
    history.append((records, best))


def _one_line(stderr):
    lines = [line for line in stderr.splitlines() if line.startswith("alphadev")]
    assert "Traceback" not in stderr and len(lines) == 1, stderr
    return lines[0]


@pytest.fixture(scope="module")
def chain(tmp_path_factory):
    """Runs the kill chain; returns (run directory, environment, report)."""
    root = tmp_path_factory.mktemp("faults")
    env, run, config = _env(root / "jax-cache"), root / "run", root / "tiny.json"
    config.write_text(json.dumps(TINY))
    history, hit = [({}, None)], []
    first = ["--config", str(config)]
    for point, n in CHAIN:
        args = ["train", "sort2", "--out", str(run), "--iterations", str(ITERATIONS), *first]
        kill = point.startswith("random")
        child = subprocess.Popen([sys.executable, str(CHILD), "none" if kill else point, str(n), *args], env=env,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
        if kill:  # at a random point of the iterations
            _wait_for_iteration(run, child)
            time.sleep(random.Random(int(point.split(":")[1])).uniform(0, 3))
            child.kill()
        out, err = child.communicate(timeout=600)
        assert "Traceback" not in err, err
        if child.returncode == -signal.SIGKILL:
            hit.append(point)
        else:
            assert child.returncode in (0, 1), err  # 1: no correct program yet
        if (run / "config.json").exists():
            first = []  # resumes from now on (a --config would be a conflict)
        _check(run, history[-1], history)
    # SIGTERM and then SIGINT: each ends its iteration, saves and exits 143 / 130.
    for signum in (signal.SIGTERM, signal.SIGINT):
        args = ["train", "sort2", "--out", str(run), "--iterations", "200"]
        child = subprocess.Popen([sys.executable, "-m", "alphadev.cli", *args], env=env, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True, start_new_session=True)
        _wait_for_iteration(run, child)
        if signum == signal.SIGTERM:  # meanwhile a second writer is refused, in one line
            assert main(args) == 2
        child.send_signal(signum)
        out, err = child.communicate(timeout=300)
        assert child.returncode == 128 + signum, err
        line = _one_line(err)
        assert f"stopped by {signal.Signals(signum).name} after iteration" in line, line
        stopped = int(line.split("after iteration ")[1].split(",")[0])
        assert sorted(int(p.name) for p in (run / "checkpoints").iterdir() if p.name.isdigit())[-1] == stopped
        _check(run, history[-1], history)
    # The last run finishes.
    done = subprocess.run([sys.executable, "-m", "alphadev.cli", "train", "sort2", "--out", str(run), "--iterations",
                           "3"], env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode in (0, 1) and "Traceback" not in done.stderr, done.stderr
    assert "resumed" in done.stdout
    _check(run, history[-1], history)
    print(f"\nkill points tried: {len(CHAIN)} SIGKILL ({len(hit)} reached: {', '.join(hit)}), SIGTERM, SIGINT")
    return run, env, dict(hit=hit, history=history)


def _wait_for_iteration(run, child):
    start = len(_state(run)[2])
    deadline = time.time() + 300
    while len(_state(run)[2]) <= start and child.poll() is None and time.time() < deadline:
        time.sleep(0.2)
    assert child.poll() is None, child.communicate()[1]


def test_killed_runs_lose_nothing_and_resume(chain):
    run, _, report = chain
    records, best, metrics = _state(run)
    # Most points are reached (a record point can miss, when no shorter program comes in time).
    assert {"replay", "archive", "metrics", "checkpoint"} <= set(report["hit"]), report["hit"]
    assert records and best == min(json.loads(t)["length"] for t in records.values())
    iterations = [int(row.split(",")[0]) for row in metrics]
    assert iterations == list(range(1, len(iterations) + 1)), iterations  # each once, in order
    assert not list(run.glob("*.tmp*")) and not list((run / "records").glob("*.tmp*"))


def _steps(run):
    return sorted(int(p.name) for p in (run / "checkpoints").iterdir() if p.name.isdigit())


def _damage(path: Path):
    if path.is_dir():
        for file in sorted(p for p in path.rglob("*") if p.is_file()):
            _damage(file)
    else:
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2] + b"\x00garbage\x00")


# (what to damage, exit code, what the one line on stderr says)
DAMAGE = {
    "newest checkpoint": (0, "does not restore"),
    "every checkpoint": (2, "no checkpoint restores"),
    "replay.npz": (2, "replay.npz: not a whole replay buffer"),
    "archive.npz": (2, "archive.npz: not a whole archive"),
    "metrics.csv": (2, "metrics.csv: line"),
    "metrics.csv, last row cut": (0, None),
    "best.json": (2, "best.json: not valid JSON"),
    "run.json": (2, "run.json: unreadable"),
    "config.json": (2, "config.json: not valid JSON"),
    "newest record": (2, "not valid JSON"),
    "oldest record": (2, "not valid JSON"),
    "lock": (0, None),
}


@pytest.mark.parametrize("what", list(DAMAGE))
def test_each_damaged_file_is_one_line_or_a_recovery(chain, tmp_path, capsys, what):
    source, _, _ = chain
    run = tmp_path / "run"
    shutil.copytree(source, run)
    steps, numbers = _steps(run), sorted((run / "records").glob("*.json"))
    target = {"newest checkpoint": run / "checkpoints" / str(steps[-1]), "every checkpoint": run / "checkpoints",
              "newest record": numbers[-1], "oldest record": numbers[0]}.get(what, run / what.split(",")[0])
    if what == "metrics.csv":
        lines = target.read_text().splitlines(keepends=True)
        target.write_text("".join(lines[:2] + ["1,2,x\n"] + lines[2:]))
    elif what.endswith("last row cut"):
        target.write_text(target.read_text()[:-9])
    else:
        _damage(target)
    capsys.readouterr()
    code = main(["train", "sort2", "--out", str(run), "--iterations", "0"])
    err = capsys.readouterr().err
    expected, says = DAMAGE[what]
    assert code == expected and "Traceback" not in err, err
    lines = [line for line in err.splitlines() if line.startswith("alphadev")]
    if says:
        assert len(lines) == 1 and says in lines[0], err
    else:
        assert not [line for line in lines if "warning" not in line], err
    if what == "newest checkpoint":
        assert _steps(run) == steps[:-1]  # resumed from the one before; the damaged one is gone
    if what == "best.json":  # deleted, it is written again from the newest record
        (run / "best.json").unlink()
        assert main(["train", "sort2", "--out", str(run), "--iterations", "0"]) == 0
        assert json.loads((run / "best.json").read_text())["text"] == json.loads(numbers[-1].read_text())["text"]


def test_report_counts(chain):
    _, _, report = chain
    print(f"\n{len(CHAIN)} SIGKILL points ({len(report['hit'])} reached) + SIGTERM + SIGINT; "
          f"{len(DAMAGE)} damaged files")
