"""games: tasks as pure-JAX single-player games (pgx style)."""
from games.actions import Jump, PlaceLabel
from games.game import Config, Game, MachineDisagreement, Rules, State
from games.registry import make, names, register
from games.task import Score, Task

__all__ = ["Jump", "PlaceLabel", "Config", "Game", "MachineDisagreement", "Rules", "State", "make",
           "names", "register", "Score", "Task"]
