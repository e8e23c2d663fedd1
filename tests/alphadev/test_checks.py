"""The host-side checks' process pool (alphadev/checks.py): results in the order submitted, the
same records with the pool as without it, a disagreement raised in a worker stopping the run,
and no record lost to an interrupt, the time budget or a kill while checks are pending."""
import signal

import jax
import jax.numpy as jnp
import pytest

import games
import isa
from alphadev.checks import Checks
from alphadev.config import load_config
from alphadev.selfplay import Trajectory
from alphadev.train import Interrupted, Trainer
from games.sort import sorting_network

NETWORK = isa.to_text(sorting_network(2))
WRONG = isa.to_text(isa.parse(NETWORK.replace("cmovg ecx, edx", "cmovl ecx, edx")))  # not a sort
SMALL = {"target_length": 0, "archive_width": 0, "net": {"dim": 8, "layers": 1, "heads": 1},
         "search": {"simulations": 4, "max_considered_actions": 4}}


def _final(game, text, **judgement):
    """A batch of one finished state that built `text`, its JAX judgement replaced by `judgement`
    where given (a JAX machine that judged wrongly)."""
    state, step = jax.jit(game.init)(), jax.jit(game.step)
    for move in game.moves_for(isa.parse(text)):
        state = step(state, jnp.int32(move))
    state = state.replace(**{k: jnp.asarray(v, getattr(state, k).dtype) for k, v in judgement.items()})
    return Trajectory(actions=None, policy=None, rewards=None, latency_rewards=None, valid=None, values=None,
                      best_q=None, cells=None, children=None, final=jax.tree_util.tree_map(lambda x: x[None], state))


def _records(run):
    return [(r.text, r.length, r.latency, r.found) for r in run.records()]


def test_checks_come_back_in_the_order_submitted_and_stop_at_a_disagreement():
    checks = Checks("sort2", {}, workers=2)
    try:
        for tag in range(3):
            checks.submit(tag, NETWORK, correct=True, items=1.0)
        checks.submit("wrong", WRONG, correct=True, items=1.0)
        checks.submit("after", NETWORK, correct=True, items=1.0)
        handed = []
        with pytest.raises(games.MachineDisagreement, match="sort2: JAX says correct=True items=1.000000, unicorn "
                                                            "says correct=False"):
            for tag, checked in checks.finished(wait=True):
                handed.append(tag)
                assert checked.executed == len(sorting_network(2)) and checked.cycles > 0
        assert handed == [0, 1, 2] and len(checks) == 1  # those before it were handed back first
    finally:
        checks.close()


def test_a_task_a_worker_cannot_build_is_checked_in_this_process(tmp_path, capsys):
    """A task registered in code (no --tasks file a worker could load) breaks the pool as it
    starts: the checks go on in this process, said once, and lose nothing."""
    def sort2_in_code():
        task = games.SortTask(2)
        task.name = "sort2_in_code"
        return task
    games.register("sort2_in_code", sort2_in_code)
    checks = Checks("sort2_in_code", {}, workers=1)
    try:
        checks.submit("first", NETWORK, correct=True, items=1.0)
        checks.submit("second", NETWORK, correct=True, items=1.0)
        assert [tag for tag, _ in checks.finished(wait=True)] == ["first", "second"]
        assert checks.workers == 0 and capsys.readouterr().err.count("process pool broke") == 1
    finally:
        checks.close()
        games.registry._REGISTRY.pop("sort2_in_code", None)   # the other tests see the shipped games


def test_a_task_file_is_loaded_by_the_workers_too():
    games.registry.load_tasks("examples/min3.py")
    checks = Checks("min3", {}, workers=1)
    try:
        program = isa.to_text(games.task("min3").references[0].program)
        checks.submit("min3", program, correct=True, items=1.0)
        assert [tag for tag, _ in checks.finished(wait=True)] == ["min3"] and checks.workers == 1
    finally:
        checks.close()
        games.registry._REGISTRY.pop("min3", None)
        games.registry._TASK_FILES.clear()


@pytest.mark.parametrize("workers", [0, 1])
def test_a_disagreement_in_the_checks_stops_the_run_with_machine_disagreement(tmp_path, workers):
    trainer = Trainer(load_config("sort2", **SMALL, check_workers=workers), tmp_path / "run", quiet=True)
    wrong = _final(trainer.game, WRONG, correct=True, items=1.0)  # Unicorn, for real, says it is wrong
    with pytest.raises(games.MachineDisagreement) as before:  # the check as the loop made it before the pool
        trainer.game.confirm(jax.tree_util.tree_map(lambda x: x[0], wrong.final))
    assert str(before.value).startswith("sort2: JAX says correct=True items=1.000000, unicorn says correct=False")
    with pytest.raises(games.MachineDisagreement) as raised:
        trainer._consider(wrong)  # with no workers, Unicorn runs here and raises at once
        trainer.train(max_iterations=0)  # in a worker: raised again when the trainer collects it
    assert str(raised.value) == str(before.value)
    assert not trainer.run.records()


@pytest.mark.slow   # two sort2 trainings: about 30 s on one core, most of it compiling
def test_the_pool_writes_the_same_records_as_checks_in_the_loop(tmp_path):
    # No learner, archive or diagnostics, whose compilation would be most of the time: the
    # search alone finds sort2's first program in the first iteration (seed 0).
    tiny = {"target_length": 0, "selfplay_batch": 16, "archive_width": 0, "diagnose_every": 0,
            "ablation": {"frozen_network": True},
            "net": {"dim": 16, "layers": 1, "heads": 2}, "search": {"simulations": 8, "max_considered_actions": 8}}
    runs = {}
    for workers in (0, 1):
        trainer = Trainer(load_config("sort2", **tiny, check_workers=workers), tmp_path / str(workers), quiet=True)
        trainer.train(max_iterations=2)
        runs[workers] = trainer.run
        assert trainer.checks.workers == workers  # the pool did not break (its checks ran in it)
        assert len(trainer.checks) == 0 and min(trainer.run.metrics()["check_wait_s"]) >= 0
    same = [(text, length, latency) for text, length, latency, _ in _records(runs[0])]
    assert same and same == [(text, length, latency) for text, length, latency, _ in _records(runs[1])]
    assert runs[0].candidates() == runs[1].candidates()


@pytest.mark.parametrize("stop", ["SIGTERM", "minutes"])
def test_checks_pending_when_the_run_stops_are_waited_for(tmp_path, stop):
    config = load_config("sort2", **SMALL, minutes=1e-9 if stop == "minutes" else 5.0)
    trainer = Trainer(config, tmp_path / "run", quiet=True)
    trainer._consider(_final(trainer.game, NETWORK))
    assert len(trainer.checks) == 1 and not trainer.run.records()  # pending: handed to a worker
    if stop == "SIGTERM":
        trainer._signal = signal.SIGTERM  # as the handler sets it: the loop stops before another iteration
        with pytest.raises(Interrupted, match="stopped by SIGTERM after iteration 0"):
            trainer.train()
    else:
        trainer.train()  # the time budget is spent before the first iteration
    assert [(text, length) for text, length, *_ in _records(trainer.run)] == [(NETWORK, 8)]
    assert trainer.run.best().text == NETWORK


def test_a_resumed_run_checks_again_what_a_kill_left_pending(tmp_path):
    config = load_config("sort2", **SMALL)
    trainer = Trainer(config, tmp_path / "run", quiet=True)
    trainer._consider(_final(trainer.game, NETWORK))
    trainer.checks.close()  # as a SIGKILL would: the pending check is lost, its candidate kept
    trainer.run.release()
    again = Trainer(config, tmp_path / "run", quiet=True)
    assert not again.run.records() and [c["text"] for c in again.run.candidates()] == [NETWORK]
    again.train(max_iterations=0)
    assert [(text, length) for text, length, *_ in _records(again.run)] == [(NETWORK, 8)]
    again.train(max_iterations=0)  # checked once: no second record of it
    assert len(again.run.records()) == 1
