"""mctx glue: a batched search from B root states with either planner.

- `planner="exact"` (AlphaZero style, as AlphaDev planned): `recurrent_fn` steps the game's own
  JAX machine; the network gives priors and values.
- `planner="muzero"`: `recurrent_fn` steps the learned dynamics for the hidden state, reward
  and value. The true game state is carried beside it only to mask illegal moves and to know
  when an episode has ended: mctx masks the root alone, and an illegal move is impossible here,
  not punished.
`policy="gumbel"` uses `mctx.gumbel_muzero_policy` (the recipe), `"muzero"` `mctx.muzero_policy`
with Dirichlet noise at the root while exploring (an ablation: `TrainConfig.ablation`).
"""
from __future__ import annotations

import dataclasses

import chex
import jax
import jax.numpy as jnp
import mctx

import games
from alphadev import networks as N
from games.fields import field, validate

ILLEGAL = -1e9  # prior logit of an illegal move at every node


@dataclasses.dataclass(frozen=True)
class SearchConfig:
    planner: str = field("exact", choices=("exact", "muzero"))
    simulations: int = field(32, ge=1)
    max_considered_actions: int = field(16, ge=1)  # gumbel policy: actions sampled at the root

    def __post_init__(self):
        validate(self)


POLICIES = ("gumbel", "muzero")


class Search:
    """`search(params, key, states)` -> `mctx.PolicyOutput` for a batch of states [B].

    Args:
      policy: "gumbel" or "muzero" (module docstring).
      dirichlet_alpha, dirichlet_fraction: the root noise of the "muzero" policy.
    """

    def __init__(self, game: games.Game, net: N.Network, observer: N.Observer, *,
                 net_config: N.NetConfig, config: SearchConfig, policy: str = "gumbel",
                 dirichlet_alpha: float = 0.03, dirichlet_fraction: float = 0.25):
        if policy not in POLICIES:
            raise ValueError(f"policy must be 'gumbel' or 'muzero', not {policy!r}")
        self.game, self.net, self.observer = game, net, observer
        self.net_config, self.config = net_config, config
        self.policy, self.dirichlet_alpha, self.dirichlet_fraction = policy, dirichlet_alpha, dirichlet_fraction

    def _value(self, value_logits):
        return N.expectation(value_logits[..., 0, :], self.net_config) + N.expectation(value_logits[..., 1, :], self.net_config)

    def head_values(self, params, states: games.State) -> jax.Array:
        """[B, 2] the network's correctness and latency values of a batch of states."""
        _, _, value = self.net.apply(params, jax.vmap(self.observer)(states))
        return jnp.stack([N.expectation(value[..., k, :], self.net_config) for k in range(2)], axis=-1)

    def node_states(self, tree) -> games.State:
        """The game states [B, N] of a search tree's nodes (a node never expanded holds zeros)."""
        return tree.embeddings if self.config.planner == "exact" else tree.embeddings[1]

    def root(self, params, states: games.State) -> mctx.RootFnOutput:
        h, logits, value = self.net.apply(params, jax.vmap(self.observer)(states))
        logits = jnp.where(states.legal_action_mask, logits, ILLEGAL)
        embedding = states if self.config.planner == "exact" else (h, states)
        return mctx.RootFnOutput(prior_logits=logits, value=self._value(value), embedding=embedding)

    def _recurrent_exact(self, params, key, action, states):
        del key
        nxt = jax.vmap(self.game.step)(states, action)
        _, logits, value = self.net.apply(params, jax.vmap(self.observer)(nxt))
        return self._output(nxt, nxt.rewards, logits, self._value(value)), nxt

    def _recurrent_muzero(self, params, key, action, embedding):
        del key
        h, states = embedding
        h2, reward_logits = self.net.apply(params, h, action, method=N.Network.dynamics)
        logits, value = self.net.apply(params, h2, method=N.Network.predict)
        nxt = jax.vmap(self.game.step)(states, action)
        reward = jnp.where(states.terminated, 0.0, N.expectation(reward_logits, self.net_config))
        return self._output(nxt, reward, logits, self._value(value)), (h2, nxt)

    @staticmethod
    def _output(nxt, reward, logits, value):
        # A terminal state is absorbing: no discount past it, and its value is 0.
        return mctx.RecurrentFnOutput(
            reward=reward.astype(jnp.float32), discount=jnp.where(nxt.terminated, 0.0, 1.0),
            prior_logits=jnp.where(nxt.legal_action_mask, logits, ILLEGAL),
            value=jnp.where(nxt.terminated, 0.0, value).astype(jnp.float32))

    def __call__(self, params, key: jax.Array, states: games.State, *, explore: bool = True) -> mctx.PolicyOutput:
        """Searches from every state of the batch.

        Args:
          params: network parameters.
          key: PRNG key.
          states: `games.State` with leading axis [B] (not terminated).
          explore: Gumbel noise / Dirichlet noise and sampling on (self-play); off for evaluation.
        Returns:
          `mctx.PolicyOutput`: `action` [B], `action_weights` [B, A] (the policy target).
        """
        chex.assert_rank(states.legal_action_mask, 2)
        root = self.root(params, states)
        recurrent = self._recurrent_exact if self.config.planner == "exact" else self._recurrent_muzero
        c = self.config
        common = dict(params=params, rng_key=key, root=root, recurrent_fn=recurrent,
                      num_simulations=c.simulations, invalid_actions=~states.legal_action_mask,
                      max_depth=self.game.max_moves)
        if self.policy == "gumbel":
            return mctx.gumbel_muzero_policy(**common, max_num_considered_actions=c.max_considered_actions,
                                             gumbel_scale=1.0 if explore else 0.0)
        out = mctx.muzero_policy(**common, dirichlet_fraction=self.dirichlet_fraction if explore else 0.0,
                                 dirichlet_alpha=self.dirichlet_alpha)
        if not explore:  # muzero_policy samples at temperature 1: evaluation plays the most visited
            out = out.replace(action=jnp.argmax(out.action_weights, axis=-1).astype(out.action.dtype))
        return out
