"""Rewards (AlphaDev's shape) and potential-based shaping, as small pure-JAX components.

Each move earns `correctness_weight` x the change in the weighted fraction of correct output
items; the move that makes every input correct also earns `correct_bonus` and costs
`latency_weight` x latency / `latency_scale`. `Shaping` adds `correctness_weight` x the change
in a weighted sum of the task's named potentials, taken as 0 once the episode ends, so an
episode's rewards sum to
    correctness_weight x (items_final - items_initial - potential_initial)
    + [correct] x (bonus - latency penalty),
which the conformance harness (games/conformance.py) checks against the task's score.
"""
from __future__ import annotations

import jax.numpy as jnp

__all__ = ["items_reward", "Shaping"]


def items_reward(config, prev_items, items, correct, latency):
    """([] reward, [] its latency part) of a move that takes the items from `prev_items` to
    `items`; `latency` is the program's latency so far (counted only when `correct`)."""
    scale = config.latency_scale or config.max_length
    latency_reward = jnp.where(correct, -config.latency_weight * latency / scale, 0.0)
    reward = config.correctness_weight * (items - prev_items) + jnp.where(
        correct, config.correct_bonus, 0.0) + latency_reward
    return reward, latency_reward


class Shaping:
    """The weighted sum of a task's potentials named in `Config.shaping`.

    Raises:
      ValueError: at construction, for a potential the task does not define.
    """

    def __init__(self, task, weights):
        unknown = [name for name, _ in weights if name not in task.potentials]
        if unknown:
            have = ", ".join(task.potentials) or "none"
            raise ValueError(f"shaping: {task.name} defines no potential {unknown[0]!r} (it has: {have})")
        self.terms = tuple((task.potentials[name], weight) for name, weight in weights if weight)

    def __call__(self, machine, loaded, stored):
        """[] float32, the potential of a state that is not terminal."""
        total = jnp.float32(0)
        for potential, weight in self.terms:
            total = total + weight * potential(machine, loaded, stored)
        return total
