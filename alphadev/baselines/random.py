"""Random legal rollouts, matched to the game's rules and the time budget.

Each batch plays `batch` episodes from the empty program, every move drawn uniformly from the
legal ones (the same rules, dead ends and length limit the agent plays under), until the
target is recorded or the time is spent. No learning and no tree search: the floor any
method must beat.
"""
from __future__ import annotations

import jax
import numpy as np

import games
from alphadev.baselines.expand import take
from alphadev.baselines.log import SearchLog
from games.rollouts import random_episodes

__all__ = ["search"]


def search(game: games.Game, log: SearchLog, *, seconds: float, seed: int, batch: int = 256) -> None:
    """Plays batches of random episodes until the target is recorded or `seconds` are spent.

    Args:
      game: the game; log: where programs and metrics go; seconds: the time budget.
      seed: the rollouts' key.
      batch: episodes per compiled call.
    """
    play, key, episodes = random_episodes(game), jax.random.PRNGKey(seed), 0
    while not log.done() and log.elapsed < seconds:
        key, sub = jax.random.split(key)
        finals, (_, _, _, rewards) = jax.device_get(play(jax.random.split(sub, batch)))
        returns = rewards.sum(axis=1)
        episodes += batch
        correct = np.nonzero(finals.correct)[0]
        if len(correct):
            log.offer(take(finals, correct[np.argmin(finals.length[correct])]))
        else:
            log.offer(take(finals, int(np.argmax(finals.items))))  # counts its items
        log.log(explored=episodes, mean_return=float(np.mean(returns)), solved=len(correct))
