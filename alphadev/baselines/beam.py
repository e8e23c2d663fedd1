"""Beam search by return earned, widening as time allows.

Each round keeps, at every depth, the `width` children with the highest correctness return
earned so far (`Game.earned`: items and shaping, so it ranks what the agent's reward ranks),
ties broken at random by the seed; a child whose fingerprint was already kept in this round,
at this depth or a shallower one, is dropped (same future, no shorter). Terminal children are
not expanded; correct ones are offered as programs. Once a correct program of length L is
known, a round stops where every child left is at least L instructions long. A round that ends
without reaching the target starts again twice as wide, up to `max_width`, and then repeats at
`max_width` with new tie-breaking, until the time is spent.
"""
from __future__ import annotations

import numpy as np

import games
from alphadev.baselines.expand import Expander, take
from alphadev.baselines.log import SearchLog

__all__ = ["search"]


def _top(summary, keep: np.ndarray, width: int, noise: np.ndarray) -> np.ndarray:
    """Indices of the `width` best kept children, one per fingerprint, best first."""
    idx = np.nonzero(keep)[0]
    order = idx[np.lexsort((noise[idx], -summary.earned[idx]))]
    _, first = np.unique(summary.fingerprint[order], return_index=True)  # the best of each fingerprint
    return order[np.sort(first)][:width]


def search(game: games.Game, log: SearchLog, *, seconds: float, seed: int, width: int = 64,
           max_width: int = 4096, chunk: int = 4096) -> None:
    """Runs beam rounds until the target is recorded or `seconds` are spent.

    Args:
      game: the game.
      log: where programs and metrics go.
      seconds: the time budget.
      seed: tie-breaking among children that earned the same.
      width: the first round's beam width; max_width: the widest round.
      chunk: children stepped per compiled call.
    """
    rng = np.random.default_rng(seed)
    expander = Expander(game, chunk=chunk)
    round_ = 0
    while not log.done() and log.elapsed < seconds:
        frontier, seen = expander.root, set()
        for depth in range(game.max_moves):
            if log.done() or log.elapsed >= seconds:
                break
            s = expander.summarise(frontier)
            if not len(s.parent):
                break
            log.saw(s.items.max())
            correct = np.nonzero(s.correct)[0]
            if len(correct):
                pick = correct[np.argmin(s.length[correct])][None]
                log.offer(take(expander.children(frontier, s.parent[pick], s.action[pick]), 0))
            fresh = np.fromiter((int(f) not in seen for f in s.fingerprint), bool, len(s.fingerprint))
            chosen = _top(s, ~s.terminated & fresh, width, rng.random(len(s.parent)))
            log.log(explored=expander.stepped, round=round_, width=width, depth=depth + 1,
                    frontier=len(chosen), best_earned=float(s.earned.max()))
            # Past here every program is at least one instruction longer than the shortest chosen.
            if not len(chosen) or (log.best_length is not None and s.length[chosen].min() + 1 >= log.best_length):
                break
            seen.update(int(f) for f in s.fingerprint[chosen])
            frontier = expander.children(frontier, s.parent[chosen], s.action[chosen])
        round_ += 1
        width = min(2 * width, max_width)
