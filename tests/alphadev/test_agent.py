"""The agent, at toy scale: search with both planners, the learner, records, checkpoint/resume."""
import functools
import json
import os
import signal
import subprocess
import sys
import time
import types

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import games
from alphadev import networks as N
from alphadev.learner import LearnerConfig, make_update
from alphadev.replay import Replay, observe_moves, path_rewards
from alphadev.search import Search, SearchConfig
from alphadev.selfplay import Trajectory, make_selfplay
from alphadev.config import ConfigError, load_config
from alphadev.train import Trainer
from games.sort import sorting_network
from tests.games.rules import violations

TINY = {"target_length": 0, "minutes": 5, "selfplay_batch": 4, "checkpoint_every": 1,
        "net": {"dim": 16, "layers": 1, "heads": 2}, "search": {"simulations": 8, "max_considered_actions": 8},
        "learner": {"batch": 16, "steps_per_iteration": 2}}
NET = N.NetConfig(dim=16, layers=1, heads=2)


def _assert_episodes_were_legal(game, traj, starts=None):
    """Replays every self-play episode move by move on the host, from the empty program or from
    its row of `starts` (legal moves, -1 past the prefix): each move must break none of the
    independent rules (tests/games/rules.py) and be allowed by the mask of the state it was
    played in, the search's policy must weigh legal moves only, and the replay must earn the
    recorded rewards and reach the recorded final state. (`Game.step` never checks legality.)"""
    traj = jax.device_get(traj)
    actions, valid, rewards, policy = (np.asarray(x) for x in (traj.actions, traj.valid, traj.rewards, traj.policy))
    init, step, _ = _jitted(game)
    for b in range(actions.shape[1]):
        final = jax.tree_util.tree_map(lambda x, b=b: x[b], traj.final)
        prefix = [] if starts is None else [int(a) for a in starts[b] if a >= 0]
        moves = [int(a) for a in actions[valid[:, b], b]]
        assert prefix + moves == [int(a) for a in final.moves[: int(final.n_moves)]], f"episode {b}"
        assert not violations(game, prefix + moves), (b, violations(game, prefix + moves))
        state = init()
        for a in prefix:
            state = step(state, jnp.int32(a))
        for k, (t, a) in enumerate(zip(np.flatnonzero(valid[:, b]), moves, strict=True)):
            assert not bool(state.terminated), f"episode {b} went on after it ended"
            assert bool(state.legal_action_mask[a]), f"episode {b}, move {k}: {game.task.vocabulary[a]} was masked"
            # The search's policy (the policy target) is a distribution over the legal moves only.
            assert policy[t, b].sum() == pytest.approx(1.0, rel=1e-5), f"episode {b}, move {k}"
            assert not policy[t, b][~np.asarray(state.legal_action_mask)].any(), f"episode {b}, move {k}"
            state = step(state, jnp.int32(a))
            assert float(state.rewards) == pytest.approx(float(rewards[t, b]), abs=1e-5), f"episode {b}, move {k}"
        assert bool(state.terminated) == bool(final.terminated) and game.program(state) == game.program(final)


@functools.lru_cache(maxsize=None)
def _jitted(game):
    """game.init, game.step and game.from_moves, compiled once per game (eagerly, each call
    compiles its ops one by one)."""
    return jax.jit(game.init), jax.jit(game.step), jax.jit(game.from_moves)


@pytest.fixture(scope="module")
def sort3():
    game = games.make("sort3")
    net, obs = N.make(game, NET)
    # Under jit: eagerly, N.init spends seconds compiling the game's and network's ops one by one.
    return game, net, obs, jax.jit(functools.partial(N.init, net, obs, game))(jax.random.PRNGKey(0))


_PLAY = {}


def _selfplay(sort3, batch=4, planner="exact", policy="gumbel", simulations=4, **kwargs):
    """`make_selfplay` of sort3, built (and so compiled) once per configuration in each worker:
    each compilation takes seconds, and most tests need the same small one."""
    game, net, obs, _ = sort3
    key = (id(game), batch, planner, policy, simulations, tuple(sorted(kwargs.items())))
    if key not in _PLAY:
        config = SearchConfig(planner=planner, simulations=simulations)
        search = Search(game, net, obs, net_config=NET, config=config, policy=policy)
        _PLAY[key] = make_selfplay(game, search, batch, **kwargs)
    return _PLAY[key]


@pytest.mark.parametrize("planner, policy", [("exact", "gumbel"), ("muzero", "gumbel"), ("exact", "muzero")])
def test_search_plays_only_legal_moves(sort3, planner, policy):
    game, _, _, params = sort3
    # Episodes from the empty program and from 4, 9 and 13 moves into a sorting network: an
    # untrained network's episodes from the empty program soon lose a value and end.
    network = game.moves_for(sorting_network(3))
    starts = np.full((4, game.max_moves), -1, np.int32)
    starts[1, :4], starts[2, :9], starts[3, :13] = network[:4], network[:9], network[:13]
    traj = _selfplay(sort3, planner=planner, policy=policy)(params, jax.random.PRNGKey(1), starts)
    _assert_episodes_were_legal(game, traj, starts)


@pytest.mark.parametrize("unroll", [0, 3])
def test_learner_step_lowers_the_loss_on_a_fixed_batch(sort3, unroll):
    game, net, obs, params = sort3
    replay = Replay(64, observe_moves(game, obs))
    replay.add(_selfplay(sort3)(params, jax.random.PRNGKey(4)))
    batch = replay.sample(32, unroll)
    update, tx = make_update(net, NET, LearnerConfig(unroll=unroll, learning_rate=3e-3))
    opt_state = tx.init(params)
    losses = []
    for _ in range(10):
        params, opt_state, loss, _ = update(params, opt_state, batch)
        losses.append(float(loss))
    assert losses[-1] < 0.8 * losses[0]


def test_replay_returns_add_up_to_the_episode_rewards(sort3):
    game, net, obs, params = sort3
    traj = jax.device_get(_selfplay(sort3)(params, jax.random.PRNGKey(5)))
    replay = Replay(8, observe_moves(game, obs))
    replay.add(traj)
    total = (np.asarray(traj.rewards) * np.asarray(traj.valid)).sum(0)
    np.testing.assert_allclose(replay.data["returns"][:4, 0].sum(-1), total, atol=1e-5)


def test_a_correct_finished_program_is_confirmed_and_recorded(tmp_path):
    config = load_config("sort2", **{k: v for k, v in TINY.items() if k not in ("net", "search", "learner")})
    trainer = Trainer(config, tmp_path / "run", quiet=True)
    game = trainer.game
    state, step = jax.jit(game.init)(), jax.jit(game.step)
    for a in game.moves_for(sorting_network(2)):
        state = step(state, jnp.int32(a))
    final = jax.tree_util.tree_map(lambda x: x[None], state)
    trainer._consider(Trajectory(actions=None, policy=None, rewards=None, latency_rewards=None,
                                 valid=None, values=None, best_q=None, cells=None, children=None, final=final))
    trainer._record_checked(wait=True)  # the checks ran in a worker process
    best = json.loads((tmp_path / "run" / "best.json").read_text())
    assert best["length"] == 8 and best["game"] == "sort2" and best["latency"]["cycles"] > 0
    assert best["source"].startswith("alphadev train") and best["seed"] == config.seed
    assert len(list((tmp_path / "run" / "records").glob("*.json"))) == 1


def test_bad_configs_are_one_line_errors(tmp_path):
    with pytest.raises(ConfigError, match="unknown game"):
        load_config("sort33")
    bad = tmp_path / "bad.json"
    bad.write_text('{"search": {"simulation": 3}}')
    with pytest.raises(ConfigError, match="unknown key.*simulation"):
        load_config("sort3", str(bad))
    bad.write_text('{"search": {"planner": "alphago"}}')
    with pytest.raises(ConfigError, match="planner must be"):
        load_config("sort3", str(bad))
    with pytest.raises(ConfigError, match="archive_fraction must be"):
        load_config("sort3", archive_fraction=2.0)


def _metrics(run):
    path = run / "metrics.csv"
    return [line.split(",") for line in path.read_text().splitlines()[1:]] if path.exists() else []


@pytest.mark.slow  # two training processes
def test_killed_training_resumes_from_its_checkpoint(tmp_path):
    config = tmp_path / "tiny.json"
    config.write_text(json.dumps(TINY))
    run = tmp_path / "run"
    command = [sys.executable, "-m", "alphadev.cli", "train", "sort2", "--config", str(config), "--out", str(run)]
    child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    deadline = time.time() + 240
    while len(_metrics(run)) < 4 and time.time() < deadline and child.poll() is None:
        time.sleep(0.5)
    os.killpg(child.pid, signal.SIGKILL)
    child.wait()
    reached = int(_metrics(run)[-1][0])
    assert reached >= 3
    # Records already on disk must survive the resume untouched (test_fault_injection kills harder).
    before = {p.name: p.read_text() for p in (run / "records").glob("*.json")}
    # The resumed run reads its own config.json (a --config now would be a conflict).
    resume = [sys.executable, "-m", "alphadev.cli", "train", "sort2", "--out", str(run), "--iterations", "2"]
    result = subprocess.run(resume, capture_output=True, text=True, timeout=240)
    assert "resumed" in result.stdout, result.stdout + result.stderr
    iterations = [int(row[0]) for row in _metrics(run)]
    assert iterations[-1] > reached and iterations[-1] - 2 >= reached - 1  # continued, not restarted at 1
    assert all((run / "records" / name).read_text() == text for name, text in before.items())


def _fake_trajectory(rewards, valid, values, best_q):
    T, B = rewards.shape
    final = types.SimpleNamespace(moves=np.zeros((B, T), np.int32), n_moves=valid.sum(0), correct=np.zeros(B, bool))
    return Trajectory(actions=np.zeros((T, B), np.int32),
                      policy=np.zeros((T, B, 2), np.float32), rewards=rewards,
                      latency_rewards=np.zeros_like(rewards), valid=valid, values=values, best_q=best_q, cells=None, children=None,
                      final=final)


def test_replay_value_targets_monte_carlo_n_step_and_max_backup():
    rewards = np.array([[1.0], [2.0], [4.0], [8.0]], np.float32)        # [T=4, B=1]
    valid = np.array([[True], [True], [True], [False]])                  # the episode ends after 3 moves
    values = np.array([[[10.0, 0.0]], [[20.0, 0.0]], [[30.0, 0.0]], [[40.0, 0.0]]], np.float32)
    best_q = np.array([[5.0], [6.0], [7.0], [-np.inf]], np.float32)
    targets = {}
    for name, kwargs in {"mc": {}, "n2": {"td_steps": 2}, "max": {"max_backup": True}}.items():
        replay = Replay(2, None, **kwargs)
        replay.add(_fake_trajectory(rewards, valid, values, best_q))
        targets[name] = replay.data["returns"][0, :, 0]
    np.testing.assert_allclose(targets["mc"], [7, 6, 4, 0])
    # Two rewards, then the value head two moves on (0 past the end of the episode).
    np.testing.assert_allclose(targets["n2"], [1 + 2 + 30, 2 + 4 + 0, 4, 0])
    # The search's best root action value where a search ran; Monte-Carlo elsewhere.
    np.testing.assert_allclose(targets["max"], [5, 6, 7, 0])


def test_a_solution_from_an_archive_cell_is_replayed_whole_from_the_empty_program(sort3):
    game, *_ = sort3
    network = np.array(game.moves_for(sorting_network(3)), np.int32)
    T, L, first, A = game.max_moves, len(network), 9, game.num_actions
    _, step, _ = _jitted(game)
    state, rewards, latency = jax.jit(game.init)(), [], []
    for a in network:
        state = step(state, jnp.int32(a))
        rewards.append(float(state.rewards))
        latency.append(float(state.latency_reward))
    assert bool(state.correct)
    # Episode 0 played the network's last moves from a cell of its first 9; episode 1 played
    # the same moves but is not correct (as if), so it is not replayed whole.
    path = np.full((2, T), -1, np.int32)
    path[:, :L] = network
    played = np.arange(T) < L - first
    pad = lambda x: np.concatenate([x, np.zeros(T - len(x), np.float32)])
    actions = np.zeros((T, 2), np.int32)
    actions[: L - first] = network[first:, None]
    policy = np.full((T, 2, A), 1.0 / A, np.float32)
    final = types.SimpleNamespace(moves=path, n_moves=np.full(2, L), correct=np.array([True, False]))
    traj = Trajectory(actions=actions, policy=policy, rewards=np.repeat(pad(rewards[first:])[:, None], 2, 1),
                      latency_rewards=np.repeat(pad(latency[first:])[:, None], 2, 1),
                      valid=np.repeat(played[:, None], 2, 1), values=np.zeros((T, 2, 2), np.float32),
                      best_q=np.zeros((T, 2), np.float32), cells=None, children=None, final=final)
    replay = Replay(8, None)
    replay.add(traj)
    assert replay.size == 2  # without path_rewards, nothing is replayed whole
    replay.add(traj, path_rewards(game))
    assert replay.size == 5
    whole = {k: v[4] for k, v in replay.data.items()}
    assert whole["first"] == 0 and whole["valid"].sum() == L
    np.testing.assert_array_equal(whole["actions"][:L], network)
    # The cell's moves: one-hot targets on the moves the solution played; then the search's.
    np.testing.assert_array_equal(whole["policy"][:first], np.eye(A, dtype=np.float32)[network[:first]])
    np.testing.assert_allclose(whole["policy"][first:L], 1.0 / A)
    # Monte-Carlo returns of the whole program, as stepping the game from the empty program gives.
    np.testing.assert_allclose(whole["rewards"][:L], rewards, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(whole["returns"][0].sum(), sum(rewards), rtol=1e-5)
    np.testing.assert_allclose(whole["returns"][first], replay.data["returns"][2, 0], rtol=1e-5, atol=1e-6)


@pytest.mark.skipif(not os.path.exists("/proc/meminfo"), reason="the check reads Linux's MemAvailable")
def test_a_replay_buffer_larger_than_memory_is_a_clear_error():
    rewards, valid = np.zeros((4, 1), np.float32), np.ones((4, 1), bool)
    replay = Replay(10**12, None)  # about 100 TB of episodes
    with pytest.raises(ValueError, match="replay buffer of 1000000000000 episodes needs .* lower replay_episodes"):
        replay.add(_fake_trajectory(rewards, valid, np.zeros((4, 1, 2), np.float32), rewards))
    assert replay.data is None and replay.size == 0


def test_exploring_selfplay_plays_legal_moves(sort3):
    game, net, obs, params = sort3
    # Moves sampled from the search policy at temperature 1, half of them replaced by uniformly
    # random legal moves (one configuration: each costs a compilation).
    traj = _selfplay(sort3, temperature=1.0, epsilon=0.5, head_values=True)(params, jax.random.PRNGKey(6))
    _assert_episodes_were_legal(game, traj)
    # The value heads are recorded when asked for (an untrained network's are not all 0); by
    # default they are not (zeros).
    assert np.abs(np.asarray(traj.values)).sum() > 0
    assert not np.asarray(_selfplay(sort3)(params, jax.random.PRNGKey(6)).values).any()
    # Exploring makes the episodes differ.
    assert len({tuple(m) for m in np.asarray(traj.final.moves)}) > 1


def test_replay_observes_the_state_before_each_sampled_move(sort3, tmp_path):
    game, net, obs, params = sort3
    # Episodes from the empty program and from 2, 5 and 9 moves into a sorting network, as the
    # archive's starts: the replay must put each start's moves before those played.
    network = game.moves_for(sorting_network(3))
    starts = np.full((4, game.max_moves), -1, np.int32)
    starts[1, :2], starts[2, :5], starts[3, :9] = network[:2], network[:5], network[:9]
    traj = jax.device_get(_selfplay(sort3)(params, jax.random.PRNGKey(7), starts))
    replay = Replay(6, observe_moves(game, obs))
    replay.add(traj)
    np.testing.assert_array_equal(replay.data["first"][:4], [0, 2, 5, 9])
    (_, step, from_moves), observe = _jitted(game), jax.jit(obs)
    for b in range(4):
        state = from_moves(jnp.asarray(starts[b]))
        for t in np.flatnonzero(traj.valid[:, b]):
            want = observe(state)
            got = replay.observe(replay.prefixes(np.array([b]), np.array([t])))
            for x, y in zip(jax.tree_util.tree_leaves(want), jax.tree_util.tree_leaves(got), strict=True):
                np.testing.assert_array_equal(np.asarray(x), np.asarray(y)[0])
            state = step(state, jnp.int32(traj.actions[t, b]))

    # A checkpointed buffer comes back whole, and samples as the original would.
    replay.save(tmp_path / "replay.npz")
    again = Replay(6, observe_moves(game, obs))
    again.load(tmp_path / "replay.npz")
    assert again.size == 4
    for a, b in zip(jax.tree_util.tree_leaves(replay.sample(8, 0)), jax.tree_util.tree_leaves(again.sample(8, 0)), strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    # A run resumed with a smaller buffer keeps the newest episodes.
    small = Replay(2, observe_moves(game, obs))
    small.load(tmp_path / "replay.npz")
    assert small.size == 2 and small.next == 0
    np.testing.assert_array_equal(small.data["first"], [5, 9])


@pytest.mark.slow  # four iterations of training
def test_training_replays_solutions_from_archive_cells_whole(tmp_path):
    config = load_config("sort2", **{**TINY, "ablation": {"replay_solutions": True}})
    trainer = Trainer(config, tmp_path / "run", quiet=True)
    trainer.train(max_iterations=4)
    metrics = trainer.run.metrics()
    from_cells = int(np.sum(metrics["solved_from_archive"]))
    assert from_cells > 0  # sort2's archive starts solve it within 4 iterations (seed 0)
    # Each self-play episode once, and each correct one from a cell once more, whole.
    data = trainer.replay.data
    assert trainer.replay.size == 4 * config.selfplay_batch + from_cells
    assert np.sum((data["first"][: trainer.replay.size] == 0) & (data["valid"].sum(1)[: trainer.replay.size] > 0)) >= from_cells


def test_a_frozen_network_never_changes_and_every_row_logs_the_diagnostics(tmp_path):
    """The frozen-network ablation takes no learner step; the metrics and TensorBoard carry the
    loss parts, where correct programs started, and the diagnostics every `diagnose_every`."""
    frozen = {**TINY, "diagnose_every": 2, "ablation": {"frozen_network": True}}
    config = load_config("sort2", **frozen)
    trainer = Trainer(config, tmp_path / "run", quiet=True)
    before = jax.tree_util.tree_map(np.asarray, trainer.state["params"])
    trainer.train(max_iterations=2)
    after = jax.tree_util.tree_map(np.asarray, trainer.state["params"])
    assert all(np.array_equal(a, b) for a, b in zip(jax.tree_util.tree_leaves(before), jax.tree_util.tree_leaves(after)))
    metrics = trainer.run.metrics()
    assert metrics["iteration"] == [1.0, 2.0] and all(np.isnan(metrics["loss"]))
    assert np.isnan(metrics["prior_agrees"][0]) and 0 <= metrics["prior_agrees"][1] <= 1
    assert metrics["greedy_length"][1] >= 1 and metrics["greedy_correct"][1] in (0.0, 1.0)
    episodes = np.add(metrics["solved_from_archive"], metrics["solved_from_empty"])
    assert (episodes <= config.selfplay_batch).all()
    assert list((tmp_path / "run" / "tensorboard").glob("events.out.tfevents.*"))
