"""The latency phase: equal-length programs ranked by the cycle model, kept, re-ranked natively."""
from __future__ import annotations

import json

import pytest

import games
import isa
from alphadev.cli import main
from alphadev.config import ConfigError, load_config
from alphadev.rundir import RunDir
from alphadev.train import Trainer

TINY = {"target_length": 0, "minutes": 5, "selfplay_batch": 8, "checkpoint_every": 1, "diagnose_every": 0,
        "net": {"dim": 16, "layers": 1, "heads": 2}, "search": {"simulations": 8, "max_considered_actions": 8},
        "learner": {"batch": 16, "steps_per_iteration": 1}}


def test_after_target_latency_needs_a_latency_that_tells_equal_lengths_apart():
    with pytest.raises(ConfigError, match='after_target "latency" needs a game latency'):
        load_config("sort2", after_target="latency")
    load_config("sort2", after_target="latency", game_config={"latency": "cycles"})


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("latency") / "run"
    config = load_config("sort2", **{**TINY, "target_length": 8}, after_target="latency",
                         game_config={"latency": "cycles"})
    trainer = Trainer(config, out, quiet=True)
    trainer.train(max_iterations=12)
    assert not trainer.done()  # the target length does not end the latency phase
    return out


def test_the_run_keeps_every_distinct_correct_program_and_records_fewer_cycles_at_equal_length(run):
    dir_ = RunDir(run)
    candidates, records = dir_.candidates(), dir_.records()
    assert records and candidates
    game = games.make("sort2", latency="cycles")
    texts = [c["text"] for c in candidates]
    assert len(texts) == len(set(texts))
    for c in candidates:  # each correct, with the cycle model's figure
        program = isa.parse(c["text"])
        assert game.task.score(program, "unicorn", cycles=False).correct
        assert c["model_cycles"] == pytest.approx(game.model_cycles(program), abs=1e-3)
    for before, after in zip(records, records[1:]):  # each record shorter, or as long and faster
        assert (after.length, after.latency["model_cycles"]) < (before.length, before.latency["model_cycles"])
    best = records[-1]
    assert best.latency["model_cycles"] == min(c["model_cycles"] for c in candidates if c["length"] == best.length)


def test_rerank_times_the_shortlist_natively_and_writes_the_fastest_verified(run, tmp_path, capsys):
    out = tmp_path / "fastest.json"
    assert main(["rerank", str(run), "-o", str(out), "--top", "2", "--random", "1000", "--reps", "5"]) == 0
    text = capsys.readouterr().out
    assert "throughput" in text and "latency" in text and "record written" in text
    record = json.loads(out.read_text())
    assert record["verification"]["unicorn"] is True and record["verification"]["native"] is True
    native = record["latency"]["native"]
    assert native["throughput"]["cycles"] > 0 and native["latency"]["cycles"] > 0 and "model_cycles" in record["latency"]
    assert main(["rerank", str(tmp_path), "-o", str(tmp_path / "x.json")]) == 2
    assert "not a run directory" in capsys.readouterr().err
