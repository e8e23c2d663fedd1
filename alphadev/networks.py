"""The networks (flax): representation, prediction and dynamics, MuZero style.

- representation: a transformer over the moves so far (each move embedded from its action id,
  its operation class and its registers, plus its position), and an encoder of the machine
  state of every test input (each register and memory slot the task uses: its low 32 bits, and
  for sorts which expected output value it equals), pooled over inputs; with a few global
  features (length, defined registers and flags) they make the hidden state h [d].
- prediction: h -> policy logits [A] and two categorical value heads (correctness and latency
  returns) over a fixed support, trained with two-hot targets.
- dynamics: (h, action) -> (next h, reward logits), for the `muzero` planner.
"""
from __future__ import annotations

import dataclasses

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

import games
import isa
from games.fields import FieldError, field, validate
from isa import jax_machine as jm


@dataclasses.dataclass(frozen=True)
class NetConfig:
    dim: int = field(32, ge=1)
    layers: int = field(1, ge=0)   # transformer layers over the moves (0: their embeddings pooled)
    heads: int = field(4, ge=1)    # attention heads; they split dim
    bins: int = field(61, ge=2)    # of the value and reward supports, from value_min to value_max
    value_min: float = -3.0
    value_max: float = 3.0

    def __post_init__(self):
        validate(self)
        if self.dim % self.heads:
            raise FieldError("heads", f"must divide dim ({self.dim}), not {self.heads}")
        if not self.value_min < self.value_max:
            raise FieldError("value_max", f"must be more than value_min ({self.value_min}), not {self.value_max}")


def support(cfg: NetConfig) -> jax.Array:
    return jnp.linspace(cfg.value_min, cfg.value_max, cfg.bins)


def two_hot(x: jax.Array, cfg: NetConfig) -> jax.Array:
    """[...] scalars -> [..., bins] two-hot distributions on the support."""
    x = jnp.clip(x, cfg.value_min, cfg.value_max)
    pos = (x - cfg.value_min) / (cfg.value_max - cfg.value_min) * (cfg.bins - 1)
    low = jnp.floor(pos).astype(jnp.int32)
    high = jnp.minimum(low + 1, cfg.bins - 1)
    frac = pos - low
    return jax.nn.one_hot(low, cfg.bins) * (1 - frac)[..., None] + jax.nn.one_hot(high, cfg.bins) * frac[..., None]


def expectation(logits: jax.Array, cfg: NetConfig) -> jax.Array:
    return jnp.sum(jax.nn.softmax(logits, axis=-1) * support(cfg), axis=-1)


class Observer:
    """Turns game states into network inputs (pure JAX; vmap over a batch)."""

    def __init__(self, game: games.Game):
        task = game.task
        self.game = game
        self.registers = np.array([isa.Reg(r).number for r in task.registers], np.int32)
        self.slots = len(task.slots)
        self.targets = None if task.targets is None else np.asarray(task.targets, np.int32)  # [I, K]
        tokens = game.table.tokens
        # [A, 3] per action: operation class, destination register, source register (16: none).
        self.action_features = np.stack([
            tokens[:, jm.F_OP], np.where(tokens[:, jm.F_DST] == jm.REG, tokens[:, jm.F_DREG], 16),
            np.where(tokens[:, jm.F_B] == jm.REG, tokens[:, jm.F_BREG], 16)], axis=1).astype(np.int32)

    def __call__(self, state: games.State) -> dict:
        m = state.machine
        regs = m.regs[:, self.registers, 0]  # [I, R] low words
        slots = jm.dwords(m.memory, 0, self.slots)
        values = jnp.concatenate([regs, slots], axis=1)  # [I, L] uint32
        bits = ((values[..., None] >> jnp.arange(32, dtype=jnp.uint32)) & 1).astype(jnp.float32)
        parts = [bits.reshape(values.shape[0], -1)]
        if self.targets is not None:
            eq = values.astype(jnp.int32)[:, :, None] == jnp.asarray(self.targets)[:, None, :]
            parts.append(eq.reshape(values.shape[0], -1).astype(jnp.float32))
        active = (m.pc == state.length) & (m.fault == 0)
        parts.append(jnp.stack([active, m.fault != 0, state.outside], axis=1).astype(jnp.float32))
        glob = jnp.concatenate([
            jnp.stack([state.length / self.game.config.max_length, state.items,
                       state.last_compare.astype(jnp.float32), state.reachable.astype(jnp.float32)]),
            state.reg_defined.astype(jnp.float32), state.flags_defined.astype(jnp.float32),
            state.loaded.astype(jnp.float32), state.stored.astype(jnp.float32),
            state.label_open.astype(jnp.float32)])
        return dict(moves=state.moves, inputs=jnp.concatenate(parts, axis=1), glob=glob)


class MoveEncoder(nn.Module):
    cfg: NetConfig
    num_actions: int
    max_moves: int
    action_features: np.ndarray  # [A, 3], see Observer

    @nn.compact
    def __call__(self, moves: jax.Array) -> jax.Array:
        d = self.cfg.dim
        valid = moves >= 0
        a = jnp.maximum(moves, 0)
        x = nn.Embed(self.num_actions, d, name="action")(a)
        features = jnp.asarray(self.action_features)[a]
        x += nn.Embed(len(jm.OPS), d, name="op")(features[..., 0])
        x += nn.Embed(17, d, name="dst")(features[..., 1])
        x += nn.Embed(17, d, name="src")(features[..., 2])
        x += nn.Embed(self.max_moves, d, name="position")(jnp.arange(moves.shape[-1]))
        x = jnp.where(valid[..., None], x, 0.0)
        # An empty program still needs something to attend to: a learned start token.
        start = self.param("start", nn.initializers.normal(0.02), (1, d))
        x = jnp.concatenate([jnp.broadcast_to(start, x.shape[:-2] + (1, d)), x], axis=-2)
        mask = jnp.concatenate([jnp.ones(valid.shape[:-1] + (1,), bool), valid], axis=-1)
        attention = nn.make_attention_mask(mask, mask)
        for _ in range(self.cfg.layers):
            y = nn.LayerNorm()(x)
            x = x + nn.MultiHeadDotProductAttention(num_heads=self.cfg.heads, qkv_features=d)(y, y, mask=attention)
            y = nn.LayerNorm()(x)
            x = x + nn.Dense(d)(nn.gelu(nn.Dense(2 * d)(y)))
        weights = mask.astype(jnp.float32)[..., None]
        return jnp.sum(x * weights, axis=-2) / jnp.sum(weights, axis=-2)


class Network(nn.Module):
    """`__call__(obs)` -> (h, policy logits, value logits [2, bins]); `dynamics(h, a)` -> (h', reward logits)."""
    cfg: NetConfig
    num_actions: int
    max_moves: int
    action_features: np.ndarray

    def setup(self):
        d = self.cfg.dim
        self.moves = MoveEncoder(self.cfg, self.num_actions, self.max_moves, self.action_features)
        self.input_mlp = [nn.Dense(2 * d), nn.Dense(d)]
        self.glob = nn.Dense(d)
        self.torso = [nn.Dense(2 * d), nn.Dense(d)]
        self.norm = nn.LayerNorm()
        self.policy = [nn.Dense(2 * d), nn.Dense(self.num_actions)]
        self.value = [nn.Dense(2 * d), nn.Dense(2 * self.cfg.bins)]
        self.action_embed = nn.Embed(self.num_actions, d)
        self.dyn = [nn.Dense(2 * d), nn.Dense(d)]
        self.dyn_norm = nn.LayerNorm()
        self.reward = [nn.Dense(d), nn.Dense(self.cfg.bins)]

    @staticmethod
    def _mlp(layers, x):
        for layer in layers[:-1]:
            x = nn.gelu(layer(x))
        return layers[-1](x)

    def represent(self, obs: dict) -> jax.Array:
        p = self.moves(obs["moves"])
        per_input = self._mlp(self.input_mlp, obs["inputs"])  # [..., I, d]
        pooled = jnp.concatenate([per_input.mean(axis=-2), per_input.max(axis=-2)], axis=-1)
        g = self.glob(obs["glob"])
        return self.norm(self._mlp(self.torso, jnp.concatenate([p, pooled, g], axis=-1)))

    def predict(self, h: jax.Array) -> tuple[jax.Array, jax.Array]:
        logits = self._mlp(self.policy, h)
        value = self._mlp(self.value, h).reshape(h.shape[:-1] + (2, self.cfg.bins))
        return logits, value

    def dynamics(self, h: jax.Array, action: jax.Array) -> tuple[jax.Array, jax.Array]:
        x = jnp.concatenate([h, self.action_embed(action)], axis=-1)
        nxt = self.dyn_norm(h + self._mlp(self.dyn, x))
        return nxt, self._mlp(self.reward, x)

    def __call__(self, obs: dict):
        h = self.represent(obs)
        logits, value = self.predict(h)
        # Touch the dynamics so that init creates its parameters too.
        self.dynamics(h, jnp.zeros(h.shape[:-1], jnp.int32))
        return h, logits, value


def make(game: games.Game, cfg: NetConfig = NetConfig()) -> tuple[Network, Observer]:
    obs = Observer(game)
    net = Network(cfg, game.num_actions, game.max_moves, obs.action_features)
    return net, obs


def init(net: Network, observer: Observer, game: games.Game, key: jax.Array):
    return net.init(key, observer(game.init()))
