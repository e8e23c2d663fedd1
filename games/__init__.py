"""games: tasks as pure-JAX single-player games (pgx style).

A `Task` (games/task.py) owns everything about one kernel; a `Game` plays it move by move.
`make(name)` builds the game of a registered task; `register(name, factory)` adds your own.
"""
from games.actions import Jump, PlaceLabel
from games.config import Config, Rules
from games.game import Game, MachineDisagreement, State
from games.hash import HashTask
from games.registry import make, names, register, task
from games.sort import SortTask, VarSortTask
from games.task import Battery, Check, CReference, FamilyVerdict, Param, Reference, Score, Signature, Slot, Task, Verdict
from games import conformance

__all__ = ["Jump", "PlaceLabel", "Config", "Rules", "Game", "MachineDisagreement", "State", "HashTask",
           "make", "names", "register", "task", "SortTask", "VarSortTask", "CReference", "Param",
           "Reference", "Score", "Signature", "Slot", "Task", "conformance", "Battery", "Check", "FamilyVerdict",
           "Verdict"]
