"""A replay buffer of whole episodes, and the sampling of learner batches from it.

Value targets, two per move (correctness and latency; episodes are short and undiscounted):
Monte-Carlo returns, the sum of the rewards from there to the end; or with `td_steps` n, the
rewards of the next n moves plus the network's value heads at the state n moves on (0 past the
end). n-step targets let a good state keep its value when exploration spoils what follows it.
With `max_backup`, the correctness target is instead the search's best root action value
(reward plus value of the best move it tried) less the latency target: a one-step Bellman
optimality backup, so that what the search finds good propagates back to the states before it
whatever the behaviour policy then played (fitted value iteration on a deterministic game).
Samples are windows of `unroll + 1` positions from a valid position (the learner unrolls the
dynamics `unroll` steps for the muzero planner; 0 for the exact one).
"""
from __future__ import annotations

import jax
import numpy as np

from alphadev.selfplay import Trajectory


def _available_bytes() -> int | None:
    """MemAvailable from /proc/meminfo (Linux); None where there is none."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def _check_memory(need: float, capacity: int) -> None:
    # The buffer's pages are committed as it fills, so an oversized one would be killed by the
    # kernel's OOM killer after many minutes of training; fail now, with a message instead.
    available = _available_bytes()
    if available is not None and need > 0.8 * available:
        raise ValueError(f"a replay buffer of {capacity} episodes needs {need / 1e9:.1f} GB, more than 80% of the "
                         f"{available / 1e9:.1f} GB of memory available; lower replay_episodes in the config")


class Replay:
    def __init__(self, capacity: int, *, td_steps: int = 0, max_backup: bool = False, seed: int = 0):
        if td_steps < 0:
            raise ValueError(f"td_steps must be 0 (Monte-Carlo) or more, not {td_steps}")
        self.capacity, self.size, self.next, self.td_steps = capacity, 0, 0, td_steps
        self.max_backup = max_backup
        self.data: dict | None = None
        self.rng = np.random.default_rng(seed)

    def add(self, traj: Trajectory) -> None:
        """Adds the B episodes of a trajectory (host copies, batch first)."""
        traj = jax.device_get(traj.replace(cells=None, children=None))  # the archive's, not the learner's
        batch_first = lambda x: np.swapaxes(np.asarray(x), 0, 1)
        rewards, latency, valid = (batch_first(x) for x in (traj.rewards, traj.latency_rewards, traj.valid))
        rewards, latency = rewards * valid, latency * valid
        correctness = rewards - latency
        # Returns to go, per head: [B, T, 2].
        parts = np.stack([correctness, latency], axis=-1)
        returns = np.cumsum(parts[:, ::-1], axis=1)[:, ::-1]
        n, T = self.td_steps, parts.shape[1]
        if 0 < n < T:  # n >= T: every target is Monte-Carlo anyway
            values = batch_first(traj.values) * valid[..., None]  # 0 once the episode ended
            returns = returns.copy()
            returns[:, : T - n] += values[:, n:] - returns[:, n:]
        if self.max_backup:
            best = batch_first(traj.best_q)
            returns = returns.copy()
            returns[..., 0] = np.where(valid & np.isfinite(best), best - returns[..., 1], returns[..., 0])
        episode = dict(obs=jax.tree_util.tree_map(batch_first, traj.obs), actions=batch_first(traj.actions),
                       policy=batch_first(traj.policy), rewards=rewards, returns=returns, valid=valid)
        b = episode["actions"].shape[0]
        if self.data is None:
            per_episode = sum(x.nbytes for x in jax.tree_util.tree_leaves(episode)) / b
            _check_memory(self.capacity * per_episode, self.capacity)
            self.data = jax.tree_util.tree_map(lambda x: np.zeros((self.capacity,) + x.shape[1:], x.dtype), episode)
        idx = (self.next + np.arange(b)) % self.capacity
        for store, new in zip(jax.tree_util.tree_leaves(self.data), jax.tree_util.tree_leaves(episode)):
            store[idx] = new
        self.next = (self.next + b) % self.capacity
        self.size = min(self.size + b, self.capacity)

    def sample(self, batch: int, unroll: int) -> dict:
        """A learner batch: obs [B, ...] at the start, and per step k = 0..unroll: actions
        [B, unroll], policy [B, K+1, A], returns [B, K+1, 2], rewards [B, unroll], mask [B, K+1]."""
        if self.size == 0:
            raise ValueError("the replay buffer is empty")
        valid = self.data["valid"][: self.size]
        episodes, starts = np.nonzero(valid)
        pick = self.rng.integers(0, len(episodes), batch)
        e, t = episodes[pick], starts[pick]
        T = valid.shape[1]
        steps = np.minimum(t[:, None] + np.arange(unroll + 1), T - 1)
        inside = (t[:, None] + np.arange(unroll + 1)) < T
        mask = valid[e[:, None], steps] & inside
        take = lambda x: x[e[:, None], steps]
        return dict(obs=jax.tree_util.tree_map(lambda x: x[e, t], self.data["obs"]),
                    actions=take(self.data["actions"])[:, :unroll], policy=take(self.data["policy"]),
                    returns=take(self.data["returns"]) * mask[..., None], rewards=(take(self.data["rewards"]) * mask)[:, :unroll],
                    mask=mask.astype(np.float32))

    def state(self) -> dict:
        return dict(size=self.size, next=self.next)
