"""Any registered game as a Gymnasium environment (`pip install 'alphadev[gym]'`).

    env = games.gym.make("sort3")          # or gymnasium.make("alphadev/sort3-v0")
    obs, info = env.reset(seed=0)
    obs, reward, terminated, truncated, info = env.step(int(info["action_mask"].argmax()))

Observations are the game state as numpy arrays (a `Dict` space):
  moves:     [M] int32, the actions played so far, -1 after the last (M = `Game.max_moves`);
  registers: [I, 16, 2] uint32, (low, high) word of each register for each test input;
  memory:    [I, D] uint8, each input's data region;
  flags:     [I, 4] int8, CF ZF SF OF (0 where undefined, see `flags_defined`);
  length:    [1] int32, instructions in the program.
`info` carries `action_mask` ([A] int8: the legal moves, as Gymnasium's masking convention
expects), `items` (the weighted fraction of correct outputs), `correct` and, after a move,
`illegal`.

Illegal moves: the game itself never plays one (games/rules.py). Here a move outside the mask
ends the episode with `illegal_reward` and leaves the state as it was (`info["illegal"]` is
True), so agents that ignore the mask still run and learn to avoid them. Pass
`illegal="raise"` to get a ValueError instead.

The length budget (`Config.max_length`) is part of the game and the observation carries the
length, so an episode that uses it up is `terminated`; `truncated` is always False (wrap with
`gymnasium.wrappers.TimeLimit` for an outside step limit).
"""
from __future__ import annotations

from typing import Any, Optional

import gymnasium
import jax
import numpy as np
from gymnasium import spaces

import isa
from games.game import Game
from games.registry import make as make_game
from games.registry import names

__all__ = ["GameEnv", "make", "register_all"]

ILLEGAL_POLICIES = ("end", "raise")


class GameEnv(gymnasium.Env):
    """A `Game` as a Gymnasium environment; see the module docstring.

    Args:
      game: the `Game` to play.
      illegal: "end" (an illegal move ends the episode with `illegal_reward`) or "raise".
      illegal_reward: the reward for an illegal move under "end".
    """

    metadata = {"render_modes": ["ansi"]}

    def __init__(self, game: Game, *, illegal: str = "end", illegal_reward: float = -1.0,
                 render_mode: Optional[str] = None):
        if illegal not in ILLEGAL_POLICIES:
            raise ValueError(f"illegal must be one of {ILLEGAL_POLICIES}, not {illegal!r}")
        if render_mode not in (None, "ansi"):
            raise ValueError(f"render_mode must be None or 'ansi', not {render_mode!r}")
        self.game, self.illegal, self.illegal_reward = game, illegal, float(illegal_reward)
        self.render_mode = render_mode
        self._init, self._step = jax.jit(game.init), jax.jit(game.step)
        state = self._init()
        inputs, data = state.machine.memory.shape[0], state.machine.data_size
        self.action_space = spaces.Discrete(game.num_actions)
        self.observation_space = spaces.Dict({
            "moves": spaces.Box(-1, game.num_actions - 1, (game.max_moves,), np.int32),
            "registers": spaces.Box(0, np.iinfo(np.uint32).max, (inputs, 16, 2), np.uint32),
            "memory": spaces.Box(0, 255, (inputs, data), np.uint8),
            "flags": spaces.Box(0, 1, (inputs, 4), np.int8),
            "length": spaces.Box(0, game.config.max_length, (1,), np.int32),
        })
        self.state, self._done = state, True

    def _observation(self) -> dict[str, np.ndarray]:
        # Fresh arrays on every call: the caller keeps them, and jax.device_get may hand back
        # the same buffers for an unchanged state.
        s = jax.device_get(self.state)
        m = s.machine
        return {"moves": np.array(s.moves, np.int32), "registers": np.array(m.regs, np.uint32),
                "memory": np.array(m.memory[:, :m.data_size], np.uint8),
                "flags": np.array(m.flags & m.defined, np.int8), "length": np.array([s.length], np.int32)}

    def _info(self, **extra: Any) -> dict[str, Any]:
        s = self.state
        return {"action_mask": np.asarray(s.legal_action_mask, np.int8), "items": float(s.items),
                "correct": bool(s.correct), **extra}

    def reset(self, *, seed: Optional[int] = None, options: Optional[dict] = None):
        super().reset(seed=seed)  # the game is deterministic; the seed only seeds self.np_random
        self.state = self._init()
        self._done = bool(self.state.terminated)
        return self._observation(), self._info()

    def step(self, action):
        if self._done:
            raise RuntimeError("step() after the episode ended: call reset()")
        action = int(action)
        if not (0 <= action < self.game.num_actions and bool(self.state.legal_action_mask[action])):
            if self.illegal == "raise":
                raise ValueError(f"move {action} is illegal here ({self.game.task.name}, "
                                 f"{int(self.state.length)} instructions played)")
            self._done = True
            return self._observation(), self.illegal_reward, True, False, self._info(illegal=True)
        self.state = self._step(self.state, np.int32(action))
        self._done = bool(self.state.terminated)
        return (self._observation(), float(self.state.rewards), self._done, False, self._info(illegal=False))

    def program(self) -> isa.Program:
        """The program played so far."""
        return self.game.program(self.state)

    def render(self) -> Optional[str]:
        if self.render_mode == "ansi":
            return isa.to_text(self.program())
        return None


def make(name: str, *, illegal: str = "end", illegal_reward: float = -1.0, render_mode: Optional[str] = None,
         **game_config) -> GameEnv:
    """The registered game `name` (`games.names()`) as a `GameEnv`; `game_config` overrides
    fields of the task's `games.Config`, as `games.make` does."""
    return GameEnv(make_game(name, **game_config), illegal=illegal, illegal_reward=illegal_reward,
                   render_mode=render_mode)


def register_all() -> list[str]:
    """Registers `alphadev/NAME-v0` with Gymnasium for every registered game; returns the ids.
    Tasks registered later (`games.register`) need another call."""
    ids = []
    for name in names():
        env_id = f"alphadev/{name}-v0"
        if env_id not in gymnasium.registry:
            gymnasium.register(id=env_id, entry_point=make, kwargs={"name": name})
        ids.append(env_id)
    return ids


register_all()
