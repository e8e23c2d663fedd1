"""An explorer's archive of program prefixes that self-play episodes may start from.

Search from the empty program alone explores one line of play deep, where a beam keeps many
distinct states at every program length; the archive gives the agent that breadth,
Go-Explore style (docs/results.md has the runs with and without it). For each program length
it keeps the `width` distinct states (by `Game.fingerprint`; a shorter prefix to the same state
replaces a longer one) that rank highest by correctness return so far (`Game.earned`) plus
`value_weight` x the search's value of the state (the network's estimate of what is still to
come). They are harvested from the
nodes of every self-play search and from every legal move out of each episode's start
(`selfplay.child_cells`), which gives a beam's breadth whatever the policy favours. Part of
each self-play batch then starts from cells drawn from it, less often from cells drawn often.
The search, its prior and value, and the learning are unchanged: an episode from a cell is an
episode of the same game whose first moves were replayed, and its value targets (returns from
the states it visits) are as valid as any.
A cell's rank is fixed when it enters (the value it had then) unless `rerank` ranks the archive
again with the current network, which the trainer does every `ablation.archive_rerank_every`
iterations.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Callable

import jax
import numpy as np

from alphadev.rundir import one_line
from alphadev.selfplay import Cells


@dataclasses.dataclass
class Cell:
    moves: np.ndarray   # [depth] int32, the moves that reach the state
    score: float        # return earned on the way (Game.earned)
    rank: float         # score + value_weight x the search's value when it entered
    tie: float          # random tie-break among equal ranks
    drawn: int = 0      # times drawn as a start


class Archive:
    """Cells: distinct non-terminal states, each with the moves reaching it and its score.

    Args:
      width: cells kept per program length (move count).
      max_moves: the game's `max_moves` (the length of a move list).
      value_weight: cells rank by earned + value_weight x the search's value of the state (its
        estimate of the return still to come, learned); 0 ranks by what was earned alone.
      seed: for tie-breaking and drawing cells.
    """

    def __init__(self, width: int, max_moves: int, *, value_weight: float = 0.0, seed: int = 0):
        if width < 1:
            raise ValueError(f"archive width must be at least 1, not {width}")
        self.width, self.max_moves, self.value_weight = width, max_moves, value_weight
        self.rng = np.random.default_rng(seed)
        self.cells: dict[int, Cell] = {}  # by fingerprint
        self.depths: list[set[int]] = [set() for _ in range(max_moves + 1)]

    def __len__(self) -> int:
        return len(self.cells)

    def add(self, cells: Cells) -> int:
        """Takes in the states a batch of searches reached.

        Args:
          cells: `Cells` with any leading axes (self-play's [T, B, N]).
        Returns:
          How many cells the archive grew by.
        """
        cells = jax.device_get(cells)
        alive = np.asarray(cells.alive).reshape(-1)
        fps = np.asarray(cells.fingerprints).reshape(-1, 2)[alive].astype(np.uint64)
        keys = (fps[:, 0] << np.uint64(32)) | fps[:, 1]
        depth = np.asarray(cells.depth).reshape(-1)[alive]
        scores = np.asarray(cells.scores).reshape(-1)[alive]
        ranks = scores + self.value_weight * np.asarray(cells.values).reshape(-1)[alive]
        moves = np.asarray(cells.moves).reshape(-1, self.max_moves)[alive]
        # One candidate per state, its shortest prefix; then per length only what could rank.
        order = np.lexsort((depth, keys))
        first = order[np.r_[True, keys[order][1:] != keys[order][:-1]]] if len(order) else order
        ties = self.rng.random(len(first))
        keep = []
        for d in np.unique(depth[first]):
            at = first[depth[first] == d]
            rank = np.lexsort((ties[depth[first] == d], -ranks[at]))
            keep.extend(at[rank[: self.width]])
        before, touched = len(self.cells), set()
        for i in keep:
            key, d = int(keys[i]), int(depth[i])
            old = self.cells.get(key)
            if old is not None and len(old.moves) <= d:
                continue
            if old is not None:
                self.depths[len(old.moves)].discard(key)
            self.cells[key] = Cell(moves[i, :d].copy(), float(scores[i]), float(ranks[i]), self.rng.random())
            self.depths[d].add(key)
            touched.add(d)
        for d in touched:
            at = self.depths[d]
            if len(at) > self.width:
                ranked = sorted(at, key=lambda k: (-self.cells[k].rank, self.cells[k].tie))
                for k in ranked[self.width:]:
                    at.discard(k)
                    del self.cells[k]
        return len(self.cells) - before

    def rerank(self, value_of: Callable[[np.ndarray], np.ndarray]) -> None:
        """Ranks every cell again by its score + value_weight x `value_of` its state now.

        A cell's value is the search's estimate when it entered; early in a run that is the
        estimate of a barely trained network, and a cell it overrated would otherwise hold its
        place against every later candidate ranked by a better one.

        Args:
          value_of: ([N, max_moves] int32 moves, -1 past each prefix) -> [N] values.
        """
        if not self.cells or not self.value_weight:
            return
        cells = list(self.cells.values())
        moves = np.full((len(cells), self.max_moves), -1, np.int32)
        for row, cell in enumerate(cells):
            moves[row, : len(cell.moves)] = cell.moves
        values = np.asarray(value_of(moves), np.float64)
        for cell, value in zip(cells, values):
            cell.rank = cell.score + self.value_weight * float(value)

    def sample(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Draws n cells, with weight 1/sqrt(1 + times drawn before).

        Returns:
          ([n, max_moves] int32 moves, -1 past each prefix; [n] their scores).
        """
        if not self.cells:
            raise ValueError("the archive is empty")
        keys = list(self.cells)
        drawn = np.array([self.cells[k].drawn for k in keys], np.float64)
        weights = 1.0 / np.sqrt(1.0 + drawn)
        pick = self.rng.choice(len(keys), n, p=weights / weights.sum())
        moves = np.full((n, self.max_moves), -1, np.int32)
        scores = np.zeros(n, np.float32)
        for row, i in enumerate(pick):
            cell = self.cells[keys[i]]
            moves[row, : len(cell.moves)] = cell.moves
            scores[row] = cell.score
            cell.drawn += 1
        return moves, scores

    # -- persistence (beside the checkpoints, so a resumed run keeps its archive) ------------

    def save(self, path: str | Path) -> None:
        cells = list(self.cells.values())
        moves = np.full((len(cells), self.max_moves), -1, np.int32)
        for row, cell in enumerate(cells):
            moves[row, : len(cell.moves)] = cell.moves
        column = lambda name, dtype: np.array([getattr(c, name) for c in cells], dtype)
        tmp = Path(path).with_suffix(".tmp.npz")
        np.savez(tmp, keys=np.array(list(self.cells), np.uint64), moves=moves, scores=column("score", np.float64),
                 ranks=column("rank", np.float64), ties=column("tie", np.float64), drawn=column("drawn", np.int64))
        tmp.replace(path)

    def load(self, path: str | Path) -> None:
        """Restores the cells `save` wrote.

        Raises:
          ValueError: a file that is not a whole archive, in one line naming it.
        """
        try:
            with np.load(path) as data:
                columns = tuple(data[k] for k in ("keys", "moves", "scores", "ranks", "ties", "drawn"))
            assert len({len(c) for c in columns}) == 1, "its columns differ in length"
            assert columns[1].ndim == 2 and columns[1].shape[1] == self.max_moves, "its move lists are not this game's"
        except Exception as e:  # any damage to the file, whatever layer notices it
            raise ValueError(f"{path}: not a whole archive ({one_line(e)}); delete it to resume with an empty "
                             "archive (the checkpoint and the records are kept)") from None
        self.cells.clear()
        for cells in self.depths:
            cells.clear()
        for key, row, score, rank, tie, drawn in zip(*columns):
            prefix = row[row >= 0]
            self.cells[int(key)] = Cell(prefix, float(score), float(rank), float(tie), int(drawn))
            self.depths[len(prefix)].add(int(key))
