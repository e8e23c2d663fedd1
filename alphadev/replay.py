"""A replay buffer of whole episodes, and the sampling of learner batches from it.

It stores each episode's moves, not its network inputs: an observation holds the machine state
of every test input (megabytes per episode for sort4, far more for varsort5), a move list a few
hundred bytes. `sample` replays the sampled prefixes (`Game.from_moves`) and observes them,
batched under jit.

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

Solutions whole (`add(..., path_rewards=...)`): an episode that starts from an archive cell
trains the network only on the moves played after the cell, so the moves that reach the cells
from the empty program, which the explorer found, are never learned, and the policy alone never
writes a whole program. With `path_rewards`, each correct episode that started from a cell is
stored a second time from the empty program: the cell's moves get a one-hot policy target (the
move that led to a correct program: self-imitation), the moves played after it keep the
search's policy, and every value target is the Monte-Carlo return of the whole correct program
(its exact return, so no n-step or max backup is needed).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

import games
from alphadev.rundir import one_line
from alphadev.selfplay import Trajectory


def observe_moves(game: games.Game, observer: Callable) -> Callable:
    """A jitted `observe(moves [B, M] int32, -1 past each prefix) -> network inputs [B, ...]`."""
    return jax.jit(jax.vmap(lambda moves: observer(game.from_moves(moves))))


def path_rewards(game: games.Game) -> Callable:
    """A jitted `rewards(moves [B, M] int32, -1 past each path) -> ([B, M] rewards, [B, M] their
    latency parts)` of playing each path from the empty program (0 past its end)."""
    def one(moves):
        def play(state, action):
            live = action >= 0
            nxt = game.step(state, jnp.maximum(action, 0))
            state = jax.tree_util.tree_map(lambda a, b: jnp.where(live, a, b), nxt, state)
            return state, (jnp.where(live, nxt.rewards, 0.0), jnp.where(live, nxt.latency_reward, 0.0))
        return jax.lax.scan(play, game.init(), moves)[1]

    return jax.jit(jax.vmap(one))


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
    """Episodes, as the moves that reach each position, with their targets.

    Args:
      capacity: episodes kept (the oldest go first).
      observe: `observe_moves(game, observer)`, which turns sampled move prefixes into inputs.
      td_steps, max_backup: the value targets (module docstring).
      seed: for sampling.
    """

    def __init__(self, capacity: int, observe: Callable, *, td_steps: int = 0, max_backup: bool = False, seed: int = 0):
        if td_steps < 0:
            raise ValueError(f"td_steps must be 0 (Monte-Carlo) or more, not {td_steps}")
        self.capacity, self.size, self.next, self.td_steps = capacity, 0, 0, td_steps
        self.observe, self.max_backup = observe, max_backup
        self.data: dict | None = None
        self.rng = np.random.default_rng(seed)

    def add(self, traj: Trajectory, path_rewards: Callable | None = None) -> None:
        """Adds the B episodes of a trajectory (time first, as self-play returns it), and with
        `path_rewards` (the function above) its correct episodes from archive cells whole."""
        traj, path, n_moves, correct = jax.device_get((traj.replace(cells=None, children=None, final=None),
                                                       traj.final.moves, traj.final.n_moves, traj.final.correct))
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
        # An episode may start from an archive cell: its moves are the cell's, then those played.
        first = np.asarray(n_moves, np.int32) - valid.sum(1).astype(np.int32)
        episode = dict(path=np.asarray(path, np.int32), first=first, actions=batch_first(traj.actions),
                       policy=batch_first(traj.policy), rewards=rewards, returns=returns, valid=valid)
        self._store(episode)
        whole = np.flatnonzero(np.asarray(correct) & (first > 0))
        if path_rewards is not None and len(whole):
            self._store(self._whole(episode, np.asarray(n_moves, np.int32), whole, path_rewards))

    @staticmethod
    def _whole(episode: dict, n_moves: np.ndarray, rows: np.ndarray, path_rewards: Callable) -> dict:
        """The episodes `rows` of `episode` (batch first) as played from the empty program."""
        path, first = episode["path"], episode["first"]
        B, T = episode["actions"].shape
        rewards, latency = (np.asarray(x) for x in jax.device_get(path_rewards(path)))  # all B: one compiled shape
        t = np.arange(T)
        valid = t[None] < n_moves[:, None]
        shifted = np.clip(t[None] - first[:, None], 0, T - 1)                           # [B, T]
        searched = episode["policy"][np.arange(B)[:, None], shifted]                     # [B, T, A]
        imitated = np.eye(searched.shape[-1], dtype=searched.dtype)[np.maximum(path, 0)]
        policy = np.where((t[None] < first[:, None])[..., None], imitated, searched)
        parts = np.stack([rewards - latency, latency], axis=-1) * valid[..., None]
        returns = np.cumsum(parts[:, ::-1], axis=1)[:, ::-1]
        whole = dict(path=path, first=np.zeros(B, np.int32), actions=np.maximum(path, 0), policy=policy,
                     rewards=(rewards * valid).astype(np.float32), returns=returns.astype(np.float32), valid=valid)
        return {k: np.ascontiguousarray(v[rows]) for k, v in whole.items()}

    def _store(self, episode: dict) -> None:
        b = episode["actions"].shape[0]
        if self.data is None:
            per_episode = sum(x.nbytes for x in episode.values()) / b
            _check_memory(self.capacity * per_episode, self.capacity)
            self.data = {k: np.zeros((self.capacity,) + x.shape[1:], x.dtype) for k, x in episode.items()}
        idx = (self.next + np.arange(b)) % self.capacity
        for k, new in episode.items():
            self.data[k][idx] = new
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
        return dict(obs=self.observe(self.prefixes(e, t)),
                    actions=take(self.data["actions"])[:, :unroll], policy=take(self.data["policy"]),
                    returns=take(self.data["returns"]) * mask[..., None], rewards=(take(self.data["rewards"]) * mask)[:, :unroll],
                    mask=mask.astype(np.float32))

    def prefixes(self, episodes: np.ndarray, steps: np.ndarray) -> np.ndarray:
        """[N, M] the moves reaching the state before move `steps` [N] of `episodes` [N] (-1 after)."""
        path = self.data["path"][episodes]
        reached = self.data["first"][episodes] + steps
        return np.where(np.arange(path.shape[1]) < reached[:, None], path, -1)

    # -- checkpoints: small now that it holds moves, so a resumed run keeps what it learned from --

    def save(self, path: str | Path) -> None:
        if self.data is None:
            return
        meta = json.dumps(dict(size=self.size, next=self.next, rng=self.rng.bit_generator.state))
        tmp = Path(path).with_suffix(".tmp.npz")
        np.savez(tmp, meta=np.array(meta), **self.data)
        tmp.replace(path)

    def load(self, path: str | Path) -> None:
        """Restores a buffer `save` wrote (one of another capacity keeps its newest episodes).

        Raises:
          ValueError: a file that is not a whole replay buffer, in one line naming it.
        """
        try:
            with np.load(path) as stored:
                data = {k: stored[k] for k in stored.files if k != "meta"}
                meta = json.loads(str(stored["meta"]))
            sizes = {len(v) for v in data.values()}
            fields = {"path", "first", "actions", "policy", "rewards", "returns", "valid"}  # Replay.add's
            assert set(data) == fields and len(sizes) == 1, "not the arrays of a replay buffer"
            assert 0 <= meta["next"] < sizes.pop() and 0 <= meta["size"], "its counters are out of range"
            rng = np.random.default_rng()
            rng.bit_generator.state = meta["rng"]
        except Exception as e:  # any damage to the file, whatever layer notices it
            raise ValueError(f"{path}: not a whole replay buffer ({one_line(e)}); delete it to resume with an "
                             "empty buffer (the checkpoint and the records are kept)") from None
        if len(data["path"]) != self.capacity:
            # The config changed between sessions: keep the newest episodes that fit.
            order = (meta["next"] - 1 - np.arange(meta["size"])) % len(data["path"])
            order = order[: self.capacity][::-1]
            data = {k: v[order] for k, v in data.items()}
            meta.update(size=len(order), next=len(order) % self.capacity)
            data = {k: np.concatenate([v, np.zeros((self.capacity - len(v),) + v.shape[1:], v.dtype)])
                    for k, v in data.items()}
        self.data, self.size, self.next, self.rng = data, meta["size"], meta["next"], rng
