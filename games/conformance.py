"""A conformance check any `games.Game` must pass (pgx style): `games.conformance.check(game)`.

It plays random legal rollouts (jit + vmap over episodes, a uniformly random move among those
`state.legal_action_mask` allows) and checks, with a message naming the game, episode and move:

  - the empty program is consistent: no moves, no reward, terminated exactly when no move is
    legal (and, with an `oracle`, no move the mask allows breaks a rule);
  - a terminated state is absorbing: stepping it (with one move per episode) changes nothing
    and earns 0;
  - every move played was legal where it was played: by the mask the rollout saw, by the mask
    of the same moves replayed one at a time on the host, and by `oracle` when given;
  - the episode's rewards add up to what its finished program is worth:
        correctness_weight x (items_final - items_init) + shaping total
        + [correct] x (correct_bonus + latency_reward of the completing move),
    where the shaping total telescopes to -correctness_weight x the initial `state.potential`
    (the weighted sum of the task's potentials, 0 once the episode ends; games/rewards.py);
  - the reference emulator agrees: `game.confirm` (Unicorn) scores the finished program with
    the same items and correctness, and the latency the game charged is the one its length (or
    mean executed instructions, or cycles by the host's `isa.latency.model_cycles`) implies;
  - `game.moves_for(game.program(final))` rebuilds the same program.
Known correct programs (`programs`, say the game's references) go through the same checks,
since random moves rarely finish one.

Raises `AssertionError` on the first failure; returns a `Summary`.
"""
from __future__ import annotations

import dataclasses
from typing import Callable, Optional, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from games.actions import PlaceLabel
from games.rollouts import random_episodes

Oracle = Callable[[object, Sequence[int]], Sequence[str]]  # (game, moves) -> problems, [] if legal


@dataclasses.dataclass(frozen=True)
class Summary:
    """What `check` played: episodes, their mean length in moves, and how many were correct."""
    game: str
    episodes: int
    mean_length: float
    correct: int


def check(game, *, episodes: int = 8, seed: int = 0, oracle: Optional[Oracle] = None,
          programs: Sequence = (), tolerance: float = 1e-4) -> Summary:
    """Plays `episodes` random legal rollouts of `game` and checks the game's contract.

    Args:
      game: a `games.Game`.
      episodes: rollouts, played in one jitted, vmapped batch.
      seed: of the random moves.
      oracle: optional independent legality rules, `(game, moves) -> list of problems`
        (tests/games/rules.py's `violations`); no episode played may break one.
      programs: correct `isa.Program`s of the game (its references), each played as one more
        episode through the same checks: random moves rarely finish a correct program.
      tolerance: on the sum of an episode's float32 rewards.
    Returns:
      A `Summary`.
    Raises:
      AssertionError: naming the first broken claim.
    """
    name = getattr(game.task, "name", type(game.task).__name__)
    init = jax.device_get(jax.jit(game.init)(jax.random.PRNGKey(seed)))  # eagerly: seconds of op compiles
    _check_init(game, name, init, oracle)

    keys = jax.random.split(jax.random.PRNGKey(seed), episodes)
    finals, trace = jax.device_get(random_episodes(game)(keys))
    actions, was_legal, was_terminated, rewards = (np.asarray(x) for x in trace)  # each [B, T]

    step = jax.jit(game.step)
    n_correct, lengths = 0, []
    for b in range(episodes):
        final = jax.tree_util.tree_map(lambda x, b=b: x[b], finals)
        where = f"{name} episode {b}"
        n = int(final.n_moves)
        moves = [int(a) for a in np.asarray(final.moves)[:n]]
        lengths.append(n)
        # What the batched rollout saw: a mask allowing each move, and nothing after the end.
        assert bool(final.terminated), f"{where}: not terminated after {game.max_moves} moves (max_moves)"
        played = ~was_terminated[b]
        assert int(played.sum()) == n, f"{where}: {int(played.sum())} moves played but n_moves is {n}"
        assert (actions[b][played] == moves).all(), f"{where}: state.moves is not the moves played"
        bad = np.flatnonzero(played & ~was_legal[b])
        assert not len(bad), f"{where}: move {bad[0]} ({_describe(game, actions[b][bad[0]])}) was masked"
        assert (rewards[b][~played] == 0).all(), f"{where}: a terminated state earned a reward"
        last = _check_episode(game, where, init, moves, step, oracle, tolerance, rewards[b][played])
        _assert_same(final, last.replace(rewards=np.float32(0), latency_reward=np.float32(0))
                     if n < game.max_moves else last, f"{where}: the batched rollout against the host's replay")
        n_correct += bool(last.correct)
    for k, program in enumerate(programs):
        where = f"{name} program {k}"
        moves = game.moves_for(program)
        # The move that makes it correct ends the episode: only labels may follow (they stand
        # at the end anyway).
        done = _first_correct(game, init, moves, step)
        assert done is not None, f"{where}: not correct"
        rest = [game.task.vocabulary[a] for a in moves[done + 1:]]
        assert all(isinstance(r, PlaceLabel) for r in rest), \
            f"{where}: correct before its last instructions {[_describe(game, a) for a in moves[done + 1:]]}"
        last = _check_episode(game, where, init, moves[: done + 1], step, oracle, tolerance)
        assert game.program(last) == program, f"{where}: plays as a different program"

    return Summary(game=name, episodes=episodes, mean_length=float(np.mean(lengths)), correct=n_correct)


def _first_correct(game, init, moves, step):
    state = init
    for k, a in enumerate(moves):
        state = step(state, jnp.int32(a))
        if bool(state.correct):
            return k
    return None


def _check_episode(game, where, init, moves, step, oracle, tolerance, recorded=None):
    """Replays `moves` one at a time on the host and checks the finished episode; returns its
    last state. `recorded`: the rewards a batched rollout earned for the same moves."""
    if oracle is not None:
        problems = list(oracle(game, moves))
        assert not problems, f"{where}: moves break the rules: {'; '.join(problems)}"
    state, rewards = init, []
    for k, a in enumerate(moves):
        assert not bool(state.terminated), f"{where}: terminated before move {k}"
        assert bool(state.legal_action_mask[a]), f"{where}: move {k} ({_describe(game, a)}) is masked"
        state = jax.device_get(step(state, jnp.int32(a)))
        rewards.append(float(state.rewards))
    if recorded is not None:
        assert np.allclose(rewards, recorded, rtol=1e-5, atol=1e-6), \
            f"{where}: the batched rollout earned {np.round(recorded, 4)}, the host's replay {np.round(rewards, 4)}"
    assert bool(state.terminated), f"{where}: not terminated after its last move"
    assert not np.asarray(state.legal_action_mask).any(), f"{where}: a terminated state allows moves"

    # Absorbing: a move from the terminated state leaves it as it is, for 0 reward.
    again = jax.device_get(step(state, jnp.int32(len(moves) % game.num_actions)))
    _assert_same(again, state.replace(rewards=np.float32(0), latency_reward=np.float32(0)),
                 f"{where}: stepping the terminated state")

    # The episode's return is what the finished program is worth; the shaping telescopes to
    # minus (its scale x) correctness_weight x the initial potential.
    cfg = game.config
    cw = float(cfg.correctness_weight)
    correct = bool(state.correct)
    expected = cw * (float(state.items) - float(init.items)) - cw * float(init.potential)
    if correct:
        expected += float(cfg.correct_bonus) + float(state.latency_reward)
    else:
        assert float(state.latency_reward) == 0.0, f"{where}: an incorrect program was charged latency"
    total = float(np.sum(rewards))
    assert abs(total - expected) <= tolerance, \
        f"{where}: rewards sum to {total:.6f}, the finished program is worth {expected:.6f}"

    # The reference emulator agrees (confirm raises MachineDisagreement otherwise), and the
    # latency charged is the program's.
    score = game.confirm(state)
    if correct:
        latency = {"length": score.length, "executed": score.executed}.get(cfg.latency)
        if latency is None:  # "cycles": the host twin of the model the game computes move by move
            latency = game.model_cycles(game.program(state))
        want = -cfg.latency_weight * latency / (cfg.latency_scale or cfg.max_length)
        assert abs(float(state.latency_reward) - want) <= tolerance, \
            f"{where}: latency reward {float(state.latency_reward):.6f}, the program's latency implies {want:.6f}"

    program = game.program(state)
    rebuilt = init
    for a in game.moves_for(program):
        if bool(rebuilt.terminated):  # a label still open at the end stands there anyway
            break
        rebuilt = step(rebuilt, jnp.int32(a))
    assert game.program(rebuilt) == program, f"{where}: moves_for(program(final)) builds a different program"
    return state


def _check_init(game, name, init, oracle):
    mask = np.asarray(init.legal_action_mask)
    assert mask.shape == (game.num_actions,) and mask.dtype == bool, \
        f"{name}: init's legal_action_mask has shape {mask.shape} {mask.dtype}, not ({game.num_actions},) bool"
    assert int(init.n_moves) == 0 and int(init.length) == 0 and (np.asarray(init.moves) == -1).all(), \
        f"{name}: init is not the empty program"
    assert float(init.rewards) == 0.0 and float(init.latency_reward) == 0.0, f"{name}: init carries a reward"
    assert bool(init.terminated) == (not mask.any()), \
        f"{name}: init terminated={bool(init.terminated)} with {int(mask.sum())} legal moves"
    if oracle is not None:
        for a in np.flatnonzero(mask):
            problems = list(oracle(game, [int(a)]))
            assert not problems, f"{name}: init allows {_describe(game, a)}, which breaks a rule: {'; '.join(problems)}"


def _assert_same(got, want, what):
    leaves = jax.tree_util.tree_leaves_with_path(want)
    others = jax.tree_util.tree_leaves(got)
    assert len(leaves) == len(others), f"{what}: a different state structure"
    for (path, w), g in zip(leaves, others, strict=True):
        w, g = np.asarray(w), np.asarray(g)
        same = w.shape == g.shape and (np.array_equal(w, g) or (
            np.issubdtype(w.dtype, np.floating) and np.allclose(w, g, rtol=1e-6, atol=1e-6)))
        assert same, f"{what}: {jax.tree_util.keystr(path)} differs ({g.ravel()[:8]} vs {w.ravel()[:8]})"


def _describe(game, action) -> str:
    from games.actions import describe
    return describe(game.task.vocabulary[int(action)])
