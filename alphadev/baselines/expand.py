"""Batched expansion of many game states by their legal moves, for the enumerative baselines.

A frontier of B states has up to B x A children; materialising them all would hold B x A
machine states (for sort4 at B = 1024, gigabytes). So expansion runs in two passes: `summarise`
steps every (parent, move) pair in fixed-size chunks and keeps a few scalars per child; the
caller picks the children it wants, and `children` steps only those again. Chunks have one
fixed size (the last is padded), so each function compiles once.
"""
from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

import games

__all__ = ["Expander", "Summary", "stack", "take"]


class Summary(NamedTuple):
    """Per child ([N] each, N = legal (parent, move) pairs): where it came from and what it is."""
    parent: np.ndarray       # int: index of the parent in the frontier
    action: np.ndarray       # int: the move
    fingerprint: np.ndarray  # [N] uint64: `Game.fingerprint` (everything its future depends on)
    earned: np.ndarray       # float: the correctness return so far (`Game.earned`, shaping included)
    correct: np.ndarray      # bool
    terminated: np.ndarray   # bool: correct, a dead end, out of moves or no legal move
    items: np.ndarray        # float: fraction of correct output items
    length: np.ndarray       # int: instructions (a label move adds none)


def stack(states: list) -> games.State:
    """One batched State of a list of unbatched ones."""
    return jax.tree_util.tree_map(lambda *xs: jnp.stack(xs), *states)


def take(states: games.State, index) -> games.State:
    """The states at `index` of a batched State (an int gives an unbatched one)."""
    return jax.tree_util.tree_map(lambda x: x[index], states)


class Expander:
    """Expands batched frontiers of `game` states.

    Args:
      game: the `games.Game`.
      chunk: (parent, move) pairs stepped per call; memory grows with it.
    """

    def __init__(self, game: games.Game, *, chunk: int = 4096):
        self.game, self.chunk = game, chunk
        self.stepped = 0  # children stepped so far, both passes

        def summarise(parents, actions):
            child = jax.vmap(game.step)(parents, actions)
            fp = jax.vmap(game.fingerprint)(child)
            earned = jax.vmap(game.earned)(child)
            return fp, earned, child.correct, child.terminated, child.items, child.length

        self._summarise = jax.jit(summarise)
        self._step = jax.jit(jax.vmap(game.step))

    def pairs(self, frontier: games.State) -> tuple[np.ndarray, np.ndarray]:
        """([N] parent, [N] move) of every legal move of every state in the frontier."""
        mask = np.asarray(jax.device_get(frontier.legal_action_mask))
        parent, action = np.nonzero(mask)
        return parent.astype(np.int32), action.astype(np.int32)

    def _chunks(self, frontier, parent, action):
        for lo in range(0, len(parent), self.chunk):
            p, a = parent[lo:lo + self.chunk], action[lo:lo + self.chunk]
            n, pad = len(p), self.chunk - len(p)
            # Padded with copies of the first pair, which is legal; their results are dropped.
            p, a = np.concatenate([p, np.full(pad, p[0], p.dtype)]), np.concatenate([a, np.full(pad, a[0], a.dtype)])
            self.stepped += n
            yield n, take(frontier, jnp.asarray(p)), jnp.asarray(a)

    def summarise(self, frontier: games.State) -> Summary:
        """A `Summary` of every legal child of every state in `frontier` (batched)."""
        parent, action = self.pairs(frontier)
        parts = []
        for n, parents, actions in self._chunks(frontier, parent, action):
            fp, *rest = (x[:n] for x in jax.device_get(self._summarise(parents, actions)))
            fp = fp.astype(np.uint64)
            parts.append(((fp[:, 0] << np.uint64(32)) | fp[:, 1], *rest))
        if not parts:
            empty = np.zeros(0)
            return Summary(parent, action, empty.astype(np.uint64), empty, empty.astype(bool), empty.astype(bool), empty,
                           empty.astype(int))
        cols = [np.concatenate(c) for c in zip(*parts)]
        return Summary(parent, action, *cols)

    def children(self, frontier: games.State, parent: np.ndarray, action: np.ndarray) -> games.State:
        """The batched children of the given (parent, move) pairs, in their order."""
        out = []
        for n, parents, actions in self._chunks(frontier, np.asarray(parent, np.int32), np.asarray(action, np.int32)):
            out.append(take(self._step(parents, actions), slice(0, n)))
        return jax.tree_util.tree_map(lambda *xs: jnp.concatenate(xs), *out)

    @functools.cached_property
    def root(self) -> games.State:
        """The empty program, as a frontier of one."""
        return stack([self.game.init()])
