"""Batched self-play under jit: B episodes at once, one search per move."""
from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import struct

import games
from alphadev.search import Search


@struct.dataclass
class Trajectory:
    """B episodes of T = game.max_moves moves (time first).

    Attributes:
      obs: network inputs of the state before each move, dict of [T, B, ...].
      actions: [T, B] moves played. policy: [T, B, A] search policy (the policy target).
      rewards, latency_rewards: [T, B] reward of each move and its latency part.
      valid: [T, B] the state before the move was not terminated (the move happened).
      final: `games.State` [B] after the last move.
    """
    obs: dict
    actions: jax.Array
    policy: jax.Array
    rewards: jax.Array
    latency_rewards: jax.Array
    valid: jax.Array
    final: games.State


def make_selfplay(game: games.Game, search: Search, batch: int, *, explore: bool = True):
    """Returns a jitted `play(params, key) -> Trajectory` for `batch` episodes."""

    def play(params, key):
        init_keys, move_keys = jax.random.split(key)
        states = jax.vmap(game.init)(jax.random.split(init_keys, batch))

        def move(states, key):
            out = search(params, key, states, explore=explore)
            action = out.action.astype(jnp.int32)
            nxt = jax.vmap(game.step)(states, action)
            record = (jax.vmap(search.observer)(states), action, out.action_weights,
                      nxt.rewards, nxt.latency_reward, ~states.terminated)
            return nxt, record

        final, (obs, actions, policy, rewards, latency, valid) = jax.lax.scan(
            move, states, jax.random.split(move_keys, game.max_moves))
        return Trajectory(obs, actions, policy, rewards, latency, valid, final)

    return jax.jit(play)
