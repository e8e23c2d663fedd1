"""A replay buffer of whole episodes, and the sampling of learner batches from it.

Value targets are Monte-Carlo returns (episodes are short and undiscounted): for each move, the
sum of the correctness rewards and of the latency rewards from there to the end, two targets.
Samples are windows of `unroll + 1` positions from a valid position (the learner unrolls the
dynamics `unroll` steps for the muzero planner; 0 for the exact one).
"""
from __future__ import annotations

import jax
import numpy as np

from alphadev.selfplay import Trajectory


class Replay:
    def __init__(self, capacity: int, *, seed: int = 0):
        self.capacity, self.size, self.next = capacity, 0, 0
        self.data: dict | None = None
        self.rng = np.random.default_rng(seed)

    def add(self, traj: Trajectory) -> None:
        """Adds the B episodes of a trajectory (host copies, batch first)."""
        traj = jax.device_get(traj)
        batch_first = lambda x: np.swapaxes(np.asarray(x), 0, 1)
        rewards, latency, valid = (batch_first(x) for x in (traj.rewards, traj.latency_rewards, traj.valid))
        rewards, latency = rewards * valid, latency * valid
        correctness = rewards - latency
        # Returns to go, per head.
        returns = np.stack([np.cumsum(correctness[:, ::-1], axis=1)[:, ::-1],
                            np.cumsum(latency[:, ::-1], axis=1)[:, ::-1]], axis=-1)
        episode = dict(obs=jax.tree_util.tree_map(batch_first, traj.obs), actions=batch_first(traj.actions),
                       policy=batch_first(traj.policy), rewards=rewards, returns=returns, valid=valid)
        b = episode["actions"].shape[0]
        if self.data is None:
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
