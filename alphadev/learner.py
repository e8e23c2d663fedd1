"""The learner: cross-entropy of the policy against the search policy, of both value heads
against two-hot Monte-Carlo returns, and (muzero planner) of the reward through `unroll` steps
of the learned dynamics. optax Adam with gradient clipping."""
from __future__ import annotations

import dataclasses
from typing import Any, Optional

import jax
import jax.numpy as jnp
import optax

from alphadev import networks as N
from games.fields import field, validate


@dataclasses.dataclass(frozen=True)
class LearnerConfig:
    learning_rate: float = field(1e-3, ge=0)  # (ablation.frozen_network skips the learner altogether)
    batch: int = field(256, ge=1)
    steps_per_iteration: int = field(8, ge=1)
    unroll: Optional[int] = field(None, ge=0)  # dynamics steps trained (None: 0 exact planner, 5 muzero)
    max_grad_norm: float = field(1.0, gt=0)
    weight_decay: float = field(1e-4, ge=0)

    def __post_init__(self):
        validate(self)


def optimizer(cfg: LearnerConfig) -> optax.GradientTransformation:
    return optax.chain(optax.clip_by_global_norm(cfg.max_grad_norm),
                       optax.adamw(cfg.learning_rate, weight_decay=cfg.weight_decay))


def make_loss(net: N.Network, net_cfg: N.NetConfig, unroll: int):
    def cross_entropy(target, logits):
        return -jnp.sum(target * jax.nn.log_softmax(logits, axis=-1), axis=-1)

    def loss(params, batch) -> tuple[jax.Array, dict]:
        h = net.apply(params, batch["obs"], method=N.Network.represent)
        total, parts = 0.0, {"policy": 0.0, "value": 0.0, "reward": 0.0}
        norm = jnp.maximum(batch["mask"].sum(), 1.0)
        for k in range(unroll + 1):
            logits, value = net.apply(params, h, method=N.Network.predict)
            mask = batch["mask"][:, k]
            p = jnp.sum(cross_entropy(batch["policy"][:, k], logits) * mask) / norm
            v = jnp.sum((cross_entropy(N.two_hot(batch["returns"][:, k, 0], net_cfg), value[:, 0])
                         + cross_entropy(N.two_hot(batch["returns"][:, k, 1], net_cfg), value[:, 1])) * mask) / norm
            parts["policy"] += p
            parts["value"] += v
            total += p + v
            if k < unroll:
                h, reward_logits = net.apply(params, h, batch["actions"][:, k], method=N.Network.dynamics)
                r = jnp.sum(cross_entropy(N.two_hot(batch["rewards"][:, k], net_cfg), reward_logits) * mask) / norm
                parts["reward"] += r
                total += r
        return total, parts

    return loss


def make_update(net: N.Network, net_cfg: N.NetConfig, cfg: LearnerConfig):
    """Returns a jitted `update(params, opt_state, batch) -> (params, opt_state, loss, parts)`."""
    tx = optimizer(cfg)
    loss = make_loss(net, net_cfg, cfg.unroll or 0)

    @jax.jit
    def update(params, opt_state: Any, batch: dict):
        (value, parts), grads = jax.value_and_grad(loss, has_aux=True)(params, batch)
        updates, opt_state = tx.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, value, parts

    return update, tx
