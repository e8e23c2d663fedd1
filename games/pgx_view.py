"""A game behind pgx's `Env` interface, for code written against pgx (pgx itself is not needed).

    env = games.pgx_view.PgxView(games.make("sort3"))
    state = jax.vmap(env.init)(jax.random.split(key, B))
    state = jax.vmap(env.step)(state, actions)     # rewards [B, 1], terminated, truncated, ...

What pgx code reads is there: `current_player` (always 0: one player), `observation` (see
`observe`), `rewards` [1], `terminated`, `truncated` (always False: the length budget is a game
rule, see games/gym.py), `legal_action_mask` [A] and `_step_count`. The game's own `State`
is `game_state`. Stepping a terminated state changes nothing and pays 0, as in pgx; an illegal
move is the caller's bug, as in `Game.step` (pgx also leaves it undefined).
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import struct

from games.game import Game, State

__all__ = ["PgxState", "PgxView"]


@struct.dataclass
class PgxState:
    current_player: jax.Array
    observation: jax.Array
    rewards: jax.Array
    terminated: jax.Array
    truncated: jax.Array
    legal_action_mask: jax.Array
    _step_count: jax.Array
    game_state: State


class PgxView:
    """`init(key)`, `step(state, action, key=None)`, `observe(state, player_id)` over a `Game`."""

    def __init__(self, game: Game):
        self.game = game
        self.id = f"alphadev/{game.task.name}"
        self.version = "v0"
        self.num_players = 1
        self.num_actions = game.num_actions

    def observe(self, state: PgxState | State, player_id: int | jax.Array = 0) -> jax.Array:
        """[D] float32: the moves played (-1 after the last), then for each test input its
        registers (low and high words), data bytes and defined flags."""
        del player_id  # one player
        s = state.game_state if isinstance(state, PgxState) else state
        m = s.machine
        parts = [s.moves, m.regs.reshape(m.regs.shape[0], -1), m.memory[:, : m.data_size], m.flags & m.defined]
        return jnp.concatenate([jnp.ravel(p).astype(jnp.float32) for p in parts])

    def _wrap(self, s: State, count: jax.Array) -> PgxState:
        return PgxState(current_player=jnp.int32(0), observation=self.observe(s), rewards=s.rewards[None],
                        terminated=s.terminated, truncated=jnp.bool_(False), legal_action_mask=s.legal_action_mask,
                        _step_count=count, game_state=s)

    def init(self, key: jax.Array) -> PgxState:
        return self._wrap(self.game.init(key), jnp.int32(0))

    def step(self, state: PgxState, action: jax.Array, key: jax.Array | None = None) -> PgxState:
        del key  # the game is deterministic
        nxt = self.game.step(state.game_state, action)
        return self._wrap(nxt, state._step_count + (~state.terminated).astype(jnp.int32))
