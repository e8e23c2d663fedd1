"""Batched self-play under jit: B episodes at once, one search per move."""
from __future__ import annotations

import chex
import jax
import jax.numpy as jnp
import numpy as np
from flax import struct
from jax.sharding import Mesh

import games
from alphadev import devices
from alphadev.search import Search


@struct.dataclass
class Trajectory:
    """B episodes of T = game.max_moves moves (time first).

    Attributes:
      actions: [T, B] moves played. policy: [T, B, A] search policy (the policy target).
      rewards, latency_rewards: [T, B] reward of each move and its latency part.
      valid: [T, B] the state before the move was not terminated (the move happened).
      values: [T, B, 2] the network's value heads (correctness, latency) at the state before
        each move, for n-step targets (zeros unless `make_selfplay(head_values=True)`).
      best_q: [T, B] the search's best action value at the root (reward plus value of the
        best visited move; -inf where no move was visited), for max-backup value targets.
      cells: `Cells` [T, B, N] of every search's tree nodes with `make_selfplay(harvest=True)`
        (for the explorer's archive); None otherwise.
      children: `Cells` [B, A] of every move from each episode's start state with
        `make_selfplay(harvest=True)` (the archive's beam-like breadth); None otherwise.
      final: `games.State` [B] after the last move.
    """
    actions: jax.Array
    policy: jax.Array
    rewards: jax.Array
    latency_rewards: jax.Array
    valid: jax.Array
    values: jax.Array
    best_q: jax.Array
    cells: "Cells | None"
    children: "Cells | None"
    final: games.State


@struct.dataclass
class Cells:
    """States a search reached (its tree's nodes), for an explorer's archive. Leading axes [..., N].

    Attributes:
      moves: [..., N, M] int32 the moves reaching each node, -1 past the last.
      depth: [..., N] int32 how many moves.
      fingerprints: [..., N, 2] uint32 `Game.fingerprint`.
      scores: [..., N] `Game.earned`, the correctness return earned on the way there.
      values: [..., N] the search's value of each node (its estimate of the return to come).
      alive: [..., N] an expanded node whose episode goes on (the others are not cells).
    """
    moves: jax.Array
    depth: jax.Array
    fingerprints: jax.Array
    scores: jax.Array
    values: jax.Array
    alive: jax.Array


def tree_cells(game: games.Game, search: Search, tree) -> Cells:
    """The `Cells` [B, N] of a batch of search trees."""
    nodes = search.node_states(tree)
    both = lambda f: jax.vmap(jax.vmap(f))(nodes)
    return Cells(moves=nodes.moves, depth=nodes.n_moves, fingerprints=both(game.fingerprint),
                 scores=both(game.earned), values=tree.node_values, alive=(tree.node_visits > 0) & ~nodes.terminated)


def child_cells(game: games.Game, search: Search, params, states: games.State, *, chunk: int = 1024) -> Cells:
    """The `Cells` [B, A] of every move from a batch of states [B].

    A search expands only the moves its prior and noise favour; a move the policy has learned to
    dislike would never reach the archive that way. Stepping every legal move from the states an
    episode starts in (as a beam would) keeps the archive's breadth independent of the policy.
    The cost is one network call per move, B x A once per episode, made about `chunk` children
    at a time: all B x A network inputs at once would be 10 GB for sort5 (64 x 180 children of
    0.9 MB each) and 40 GB for varsort5.
    """
    moves = jnp.arange(game.num_actions)

    def row(state):  # [A] children of one state
        kids = jax.vmap(lambda a: game.step(state, a))(moves)
        return Cells(moves=kids.moves, depth=kids.n_moves, fingerprints=jax.vmap(game.fingerprint)(kids),
                     scores=jax.vmap(game.earned)(kids), values=search.head_values(params, kids).sum(-1),  # as the search sums them
                     alive=state.legal_action_mask & ~state.terminated & ~kids.terminated)

    return jax.lax.map(row, states, batch_size=max(1, chunk // game.num_actions))


def make_prefix_values(game: games.Game, search: Search, chunk: int = 512):
    """Returns `value_of(params, moves [N, M]) -> [N]` numpy: the search's value (its heads summed)
    of the states the move prefixes (-1 past each) reach; jitted over `chunk` rows at a time."""
    values = jax.jit(lambda params, moves: search.head_values(params, jax.vmap(game.from_moves)(moves)).sum(-1))

    def value_of(params, moves):
        moves = np.asarray(moves, np.int32)
        out = []
        for i in range(0, len(moves), chunk):
            part = moves[i: i + chunk]
            padded = np.concatenate([part, np.full((chunk - len(part), moves.shape[1]), -1, np.int32)])
            out.append(np.asarray(values(params, padded))[: len(part)])
        return np.concatenate(out) if out else np.zeros(0, np.float32)

    return value_of


def local_rows(traj: Trajectory) -> Trajectory:
    """This process's episodes of a trajectory played by several processes, as numpy (time-first
    fields keep [T, B], the rest [B, ...])."""
    time_first = {f: devices.local(getattr(traj, f), axis=1) for f in
                  ("actions", "policy", "rewards", "latency_rewards", "valid", "values", "best_q", "cells")}
    return traj.replace(**time_first, children=devices.local(traj.children), final=devices.local(traj.final))


def best_root_q(tree) -> jax.Array:
    """[B] the largest Q (reward + discount x value) among the root's visited moves."""
    root = jnp.zeros(tree.node_visits.shape[0], jnp.int32)
    q = tree.qvalues(root)                                          # [B, A]
    visited = tree.children_visits[:, 0, :] > 0
    return jnp.max(jnp.where(visited, q, -jnp.inf), axis=-1)


def make_selfplay(game: games.Game, search: Search, batch: int, *, explore: bool = True,
                  temperature: float = 0.0, epsilon: float = 0.0, head_values: bool = False,
                  harvest: bool = False, mesh: Mesh | None = None):
    """Returns a jitted `play(params, key, starts=None) -> Trajectory` for `batch` episodes.

    `starts` ([batch, max_moves] int32, -1 past each prefix) makes episodes start from the
    states those moves reach (`Game.from_moves`); by default every episode starts empty.

    Args:
      explore: search with its root noise (off for evaluation, which also ignores the two below).
      temperature: 0 plays the search's own choice; above 0, a sample of the search policy
        (`action_weights`) sharpened or flattened by this temperature. The search's choice
        alone makes every episode of a batch alike once the policy is confident, and a batch
        of identical episodes teaches the value nothing about the alternatives.
      epsilon: the chance of playing a uniformly random legal move instead.
      head_values: record the network's two value heads at every state (`Trajectory.values`,
        for n-step targets); zeros otherwise, which spares a network call per move.
      harvest: record every search tree's nodes as `Trajectory.cells`, and every move from
        each episode's start as `Trajectory.children`.
      mesh: split the episodes over this mesh's devices (`alphadev.devices`; `batch` must
        divide by its size); None: wherever JAX puts them. With several processes, `batch` is
        each process's share: every process calls `play` (a collective) with its own `starts`
        and gets its own episodes back, as numpy.
    """
    processes = jax.process_count() if mesh is not None else 1
    total = batch * processes  # episodes in one call, over every process

    def choose(key, out, legal):
        if not explore or (temperature == 0 and epsilon == 0):
            return out.action.astype(jnp.int32)
        k_sample, k_eps, k_uniform = jax.random.split(key, 3)
        action = out.action.astype(jnp.int32)
        if temperature > 0:
            logits = jnp.log(jnp.maximum(out.action_weights, 1e-30)) / temperature
            action = jax.random.categorical(k_sample, jnp.where(legal, logits, -jnp.inf)).astype(jnp.int32)
        uniform = jax.random.categorical(k_uniform, jnp.where(legal, 0.0, -jnp.inf)).astype(jnp.int32)
        return jnp.where(jax.random.uniform(k_eps, action.shape) < epsilon, uniform, action)

    def play(params, key, starts):
        states = jax.vmap(game.from_moves)(starts)
        if mesh is not None:  # every state's episode stays on one device; XLA partitions the rest to match
            states = jax.lax.with_sharding_constraint(states, devices.sharded(mesh))
        children = child_cells(game, search, params, states) if harvest else None

        def move(states, key):
            k_search, k_choose = jax.random.split(key)
            out = search(params, k_search, states, explore=explore)
            # A terminated state has no legal move; what it "plays" is ignored by game.step.
            legal = states.legal_action_mask | ~states.legal_action_mask.any(-1, keepdims=True)
            action = choose(k_choose, out, legal)
            nxt = jax.vmap(game.step)(states, action)
            record = (action, out.action_weights,
                      nxt.rewards, nxt.latency_reward, ~states.terminated,
                      search.head_values(params, states) if head_values else jnp.zeros((total, 2)),
                      best_root_q(out.search_tree), tree_cells(game, search, out.search_tree) if harvest else None)
            return nxt, record

        final, (actions, policy, rewards, latency, valid, values, best_q, cells) = jax.lax.scan(
            move, states, jax.random.split(key, game.max_moves))
        return Trajectory(actions, policy, rewards, latency, valid, values, best_q, cells, children, final)

    jitted = jax.jit(play)
    empty = jnp.full((batch, game.max_moves), -1, jnp.int32)

    def play_from(params, key, starts=None):
        if starts is None:
            starts = empty
        chex.assert_shape(starts, (batch, game.max_moves))
        if mesh is None:
            return jitted(params, key, jnp.asarray(starts, jnp.int32))
        traj = jitted(params, key, devices.shard(np.asarray(starts, np.int32), mesh))
        return traj if processes == 1 else local_rows(traj)

    return play_from
