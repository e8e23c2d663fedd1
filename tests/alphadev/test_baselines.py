"""The baseline searches: each finds real programs, confirmed on Unicorn, in the agent's format."""
from __future__ import annotations

import json

import jax
import numpy as np
import pytest

import games
from alphadev import baselines
from alphadev.baselines.expand import Expander, stack, take
from alphadev.cli import main
from alphadev.rundir import RunDir, RunDirError


def _check_run(path, game: str, method: str, max_length: int) -> RunDir:
    run = RunDir(path)
    best, records = run.best(), run.records()
    assert best is not None and records and records[-1].length == best.length <= max_length
    assert [r.length for r in records] == sorted((r.length for r in records), reverse=True)
    task = games.make(game).task
    for record in records:  # every record is a correct program, judged afresh
        assert record.game == game and record.source == f"alphadev search ({method})"
        assert task.score(record.program, "unicorn").correct
    metrics = run.metrics()
    assert {"step", "elapsed_s", "best_items", "best_length", "explored"} <= set(metrics)
    assert metrics["best_length"][-1] == best.length and np.all(np.diff(metrics["explored"]) >= 0)
    assert json.loads((path / "run.json").read_text())["planner"] == method
    return run


def test_beam_finds_the_shortest_sort2(tmp_path):
    best = baselines.run("beam", "sort2", tmp_path / "beam", minutes=2, seed=0, quiet=True,
                         options=dict(width=8, max_width=64, chunk=256))
    assert best is not None and best.length == 8  # the human length, the shortest there is: the target
    _check_run(tmp_path / "beam", "sort2", "beam", 8)


def test_random_rollouts_find_a_correct_sort2(tmp_path):
    # Any correct sort2 fits the length limit (12), so the first one ends the search.
    best = baselines.run("random", "sort2", tmp_path / "random", minutes=1, seed=0, quiet=True, target_length=12,
                         options=dict(batch=64))
    assert best is not None
    _check_run(tmp_path / "random", "sort2", "random", 12)


def test_expander_children_match_stepping_one_by_one():
    game = games.make("sort3")
    expander = Expander(game, chunk=16)  # several chunks, the last one padded
    frontier = stack([game.init(), game.step(game.init(), int(np.argmax(game.init().legal_action_mask)))])
    s = expander.summarise(frontier)
    mask = np.asarray(frontier.legal_action_mask)
    assert len(s.parent) == mask.sum() and expander.stepped == mask.sum()
    children = expander.children(frontier, s.parent, s.action)
    # The same children stepped in one unchunked batch, and fingerprinted and valued afresh.
    one = jax.jit(jax.vmap(game.step))(take(frontier, s.parent), s.action)
    fp = np.asarray(jax.vmap(game.fingerprint)(one)).astype(np.uint64)
    assert np.array_equal((fp[:, 0] << np.uint64(32)) | fp[:, 1], s.fingerprint)
    assert np.allclose(np.asarray(jax.vmap(game.earned)(one)), s.earned)
    assert np.array_equal(one.correct, s.correct) and np.array_equal(one.length, s.length)
    assert np.array_equal(one.terminated, s.terminated) and np.allclose(one.items, s.items)
    for a, b in zip(jax.tree_util.tree_leaves(one), jax.tree_util.tree_leaves(children)):
        assert np.array_equal(a, b)


def test_a_search_never_writes_into_a_directory_holding_a_run(tmp_path):
    baselines.run("random", "sort2", tmp_path / "run", minutes=0.01, seed=0, quiet=True, options=dict(batch=8))
    with pytest.raises(RunDirError, match="does not resume"):
        baselines.run("random", "sort2", tmp_path / "run", minutes=0.01, seed=0, quiet=True)


@pytest.mark.parametrize("items, message", [
    (["width"], "takes NAME=VALUE"), (["depth=3"], "takes NAME=VALUE"), (["width=wide"], "takes a int"),
    (["width=-1"], "must not be negative")])
def test_bad_options_are_one_line(items, message):
    with pytest.raises(ValueError, match=message):
        baselines.parse_options("beam", items)


def test_cli_search_and_its_errors(tmp_path, capsys):
    out = tmp_path / "cli"
    assert main(["search", "sort2", "--method", "beam", "--minutes", "1", "--seed", "1", "--out", str(out),
                 "--set", "width=8", "--set", "chunk=256"]) == 0
    assert "best: 8 instructions" in capsys.readouterr().out
    assert main(["search", "sort2", "--method", "beam", "--out", str(out)]) == 2
    assert main(["search", "sort2", "--method", "beam", "--set", "depth=3", "--out", str(tmp_path / "x")]) == 2
    assert main(["search", "sort2", "--method", "agent", "--set", "width=3", "--out", str(tmp_path / "y")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 3 and "does not resume" in err[0] and "depth=3" in err[1] and "--config" in err[2]
    assert not (tmp_path / "x").exists() and not (tmp_path / "y").exists()
