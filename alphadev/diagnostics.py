"""What the network has learned, measured where it has not trained yet.

Two probes, both jitted and cheap next to an iteration:
  - `Probe` looks at positions of the episodes self-play just played, before the learner sees
    them (held out): how often the network's prior picks the search's choice (top-1 agreement
    with the search policy, the move played within the prior's top k, the cross-entropy to the
    search policy), and how well each value head predicts the return those episodes then
    achieved (mean absolute error, Spearman rank correlation); plus the search's own figures
    (entropy of its policy, its best root action value).
  - `greedy` plays the policy alone from the empty program: the argmax of the prior over the
    legal moves, no search (MLGO's deployment mode). A policy that writes a correct program
    this way has learned the program, not just steered the search.
"""
from __future__ import annotations

import dataclasses
import math
import jax
import jax.numpy as jnp
import numpy as np
from scipy import stats

import games
import isa
from alphadev import networks as N
from alphadev.selfplay import Trajectory

__all__ = ["GREEDY_NAMES", "Greedy", "Probe", "evaluate_prefixes", "make_greedy", "returns_to_go"]

GREEDY_NAMES = ("greedy_correct", "greedy_items", "greedy_length")


def returns_to_go(traj: Trajectory) -> np.ndarray:
    """[B, T, 2] the Monte-Carlo return (correctness, latency) achieved from each position of
    the trajectory's episodes: the sum of the rewards from there to the end."""
    rewards, latency, valid = (np.swapaxes(np.asarray(x), 0, 1)
                               for x in jax.device_get((traj.rewards, traj.latency_rewards, traj.valid)))
    parts = np.stack([(rewards - latency) * valid, latency * valid], axis=-1)
    return np.cumsum(parts[:, ::-1], axis=1)[:, ::-1]


def _spearman(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman's rank correlation; NaN when either side is constant (it is undefined)."""
    if len(x) < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return math.nan
    return float(stats.spearmanr(x, y).statistic)


def evaluate_prefixes(game: games.Game, net: N.Network, observer: N.Observer, net_config: N.NetConfig):
    """Jitted `(params, prefixes [N, M]) -> (prior logits [N, A] with illegal moves at -inf,
    head values [N, 2], legal [N, A])` of the states the move prefixes reach."""
    def one(params, moves):
        state = game.from_moves(moves)
        _, logits, value = net.apply(params, jax.tree_util.tree_map(lambda x: x[None], observer(state)))
        heads = jnp.stack([N.expectation(value[0, k], net_config) for k in range(2)])
        return jnp.where(state.legal_action_mask, logits[0], -jnp.inf), heads, state.legal_action_mask

    return jax.jit(jax.vmap(one, in_axes=(None, 0)))


class Probe:
    """Measures the network on held-out positions of a fresh trajectory (module docstring).

    Args:
      samples: positions looked at per call (at most; fewer when the episodes are shorter).
      top_k: for `played_in_top_k`.
      seed: of the positions' sampling.
    """

    def __init__(self, game: games.Game, net: N.Network, observer: N.Observer, net_config: N.NetConfig, *,
                 samples: int = 256, top_k: int = 3, seed: int = 0):
        self.game, self.samples, self.top_k = game, samples, top_k
        self.evaluate = evaluate_prefixes(game, net, observer, net_config)
        self.rng = np.random.default_rng(seed)

    @property
    def names(self) -> tuple[str, ...]:
        """The keys of what a call returns."""
        return ("prior_agrees", f"played_in_top{self.top_k}", "prior_cross_entropy", "search_entropy",
                "correctness_value_error", "correctness_value_rank", "latency_value_error",
                "latency_value_rank", "root_best_q")

    def positions(self, traj: Trajectory) -> dict[str, np.ndarray]:
        """A sample of the trajectory's positions: `prefixes` [N, M] (the moves reaching each,
        -1 after), the search's `policy` [N, A], the move `played` [N], `returns` [N, 2]."""
        valid, actions, policy, path, n_moves = (np.asarray(x) for x in jax.device_get(
            (traj.valid, traj.actions, traj.policy, traj.final.moves, traj.final.n_moves)))
        steps, episodes = np.nonzero(valid)                       # valid is [T, B]
        pick = self.rng.permutation(len(steps))[: self.samples]
        t, b = steps[pick], episodes[pick]
        # An episode may start from an archive cell: its path holds the cell's moves first.
        first = n_moves - valid.sum(0)
        reached = first[b] + t
        prefixes = np.where(np.arange(path.shape[1]) < reached[:, None], path[b], -1).astype(np.int32)
        return dict(prefixes=prefixes, policy=policy[t, b], played=actions[t, b],
                    returns=returns_to_go(traj)[b, t])

    def __call__(self, params, traj: Trajectory) -> dict[str, float]:
        """The figures (module docstring) as a flat dict of floats (NaN where undefined)."""
        pos = self.positions(traj)
        if len(pos["played"]) == 0:
            return {name: math.nan for name in self.names}
        logits, heads, _ = (np.asarray(x) for x in self.evaluate(params, jnp.asarray(pos["prefixes"])))
        policy = pos["policy"]
        prior = np.asarray(jax.nn.softmax(logits, axis=-1))
        rank = np.argsort(-logits, axis=-1)
        log_prior = np.where(policy > 0, np.log(np.maximum(prior, 1e-30)), 0.0)
        log_policy = np.where(policy > 0, np.log(np.maximum(policy, 1e-30)), 0.0)
        out = {
            "prior_agrees": float(np.mean(rank[:, 0] == policy.argmax(-1))),
            f"played_in_top{self.top_k}": float(np.mean((rank[:, : self.top_k] == pos["played"][:, None]).any(-1))),
            "prior_cross_entropy": float(np.mean(-np.sum(policy * log_prior, axis=-1))),
            "search_entropy": float(np.mean(-np.sum(policy * log_policy, axis=-1))),
        }
        for k, head in enumerate(("correctness", "latency")):
            out[f"{head}_value_error"] = float(np.mean(np.abs(heads[:, k] - pos["returns"][:, k])))
            out[f"{head}_value_rank"] = _spearman(heads[:, k], pos["returns"][:, k])
        best_q = np.asarray(jax.device_get(traj.best_q))[np.asarray(jax.device_get(traj.valid))]
        best_q = best_q[np.isfinite(best_q)]
        out["root_best_q"] = float(best_q.mean()) if len(best_q) else math.nan
        return out


@dataclasses.dataclass
class Greedy:
    """The program the policy alone writes from the empty program."""
    program: isa.Program
    correct: bool
    items: float

    @property
    def length(self) -> int:
        return len(self.program)


def make_greedy(game: games.Game, net: N.Network, observer: N.Observer):
    """Returns `greedy(params) -> Greedy`: the prior's argmax over the legal moves, move after
    move, until the episode ends (jitted)."""
    def play(params):
        def move(state, _):
            _, logits, _ = net.apply(params, jax.tree_util.tree_map(lambda x: x[None], observer(state)))
            action = jnp.argmax(jnp.where(state.legal_action_mask, logits[0], -jnp.inf)).astype(jnp.int32)
            return game.step(state, action), None   # a terminated state ignores the move

        return jax.lax.scan(move, game.init(), None, length=game.max_moves)[0]

    jitted = jax.jit(play)

    def greedy(params) -> Greedy:
        final = jax.device_get(jitted(params))
        return Greedy(game.program(final), bool(final.correct), float(final.items))

    return greedy
