"""Uniformly random legal episodes: the floor any search must beat, and test fodder.

One function builds the jitted batch every caller shares (the conformance harness, the random
baseline, the cycle model's validation, tests), so that "a random legal episode" means one
thing everywhere.
"""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

__all__ = ["random_episodes"]


@functools.lru_cache(maxsize=64)
def random_episodes(game):
    """jit(keys [B, 2] -> (final states [B], (action, legal, terminated, reward) [B, T] each)).

    Each episode plays a uniformly random legal move at every step from `game.init`, for
    `game.max_moves` steps; once terminated it plays move 0, which changes nothing (a terminated
    state is absorbing), so `terminated` marks the steps that did not happen.
    """
    def episode(key):
        def body(state, key):
            logits = jnp.where(state.legal_action_mask, 0.0, -jnp.inf)
            action = jax.random.categorical(key, jnp.where(state.terminated, 0.0, logits)).astype(jnp.int32)
            nxt = game.step(state, action)
            return nxt, (action, state.legal_action_mask[action], state.terminated, nxt.rewards)
        return jax.lax.scan(body, game.init(key), jax.random.split(key, game.max_moves))

    return jax.jit(jax.vmap(episode))
