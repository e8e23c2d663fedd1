"""A game's hyperparameters: the legality `Rules` and the reward `Config`.

Both are frozen dataclasses, so a `Game` can be hashed and its JAX code traced once. Each task
ships its default `Config` (`Task.config`); `games.make(name, **overrides)` replaces fields of it,
merging a `rules` dict into the task's rules rather than replacing them. Every field is type-
and range-checked where it is declared (games/fields.py): a bad value is a one-line error.
"""
from __future__ import annotations

import dataclasses
from typing import Mapping

from games.fields import FieldError, field, validate

__all__ = ["Rules", "Config"]


@dataclasses.dataclass(frozen=True)
class Rules:
    """Legality rules (AlphaDev's pruning), each one small pure function in games/rules.py.

    A rule whose preconditions do not hold (other rules it relies on, or a capability the task
    lacks) is a one-line error when the game is built (`games.rules.check`), never dropped.
    """
    read_once: bool = True           # load each memory slot at most once
    write_once: bool = True          # store each memory slot at most once
    defined_registers: bool = True   # never read a register the program has not written
    ordered_registers: bool = True   # a fresh register is the next one in allocation order
    no_double_compare: bool = True   # no two compares in a row
    no_memory_operands: bool = True  # no compare/cmov/arithmetic on memory (count compares exempt)
    loads_first: bool = True         # every load before the first store
    stores_last: bool = True         # after the first store, only stores
    loads_in_order: bool = False     # until every slot is loaded, only the load of the lowest slot
                                     # not loaded yet, into a fresh register
    room_for_stores: bool = False    # only stores once the instructions left are just enough for
                                     # the stores the output still needs (task.stores_needed)
    end_lost: bool = False           # a move that loses a value the output needs ends the episode
                                     # (task.lost)
    end_stored_wrong: bool = False   # a store that leaves its slot wrong for some input ends the
                                     # episode (task.stored_wrong)

    def __post_init__(self):
        validate(self)


@dataclasses.dataclass(frozen=True)
class Config:
    """Game hyperparameters.

    Attributes:
      max_length: instructions at most (label moves do not count).
      correctness_weight, correct_bonus, latency_weight: reward weights (AlphaDev: 2.0, 1.0, 0.5).
      latency: "length" (instructions), "executed" (mean instructions executed, for branches)
        or "cycles" (the cycle model of the task's CPU, `isa.latency.model`, computed move by
        move: games/cycles.py).
      latency_scale: latency is divided by this (0: max_length), so the penalty is at most
        latency_weight for "length" and "executed"; a program's cycles can exceed its length.
      rules: the legality `Rules` (a dict of rule names is merged into the task's defaults).
      shaping: named potentials of the task (`Task.potentials`) and their weights, as pairs (a
        dict is accepted). Each move also earns correctness_weight x the change in the weighted
        sum of potentials, which is 0 at the end of an episode: over any episode the shaping
        sums to -correctness_weight x the initial potential, so it ranks finished programs as
        the plain reward does but makes the work between loads and stores visible.
    """
    max_length: int = field(24, ge=1)
    correctness_weight: float = field(2.0, ge=0)
    correct_bonus: float = field(1.0, ge=0)
    latency_weight: float = field(0.5, ge=0)
    latency: str = field("length", choices=("length", "executed", "cycles"))
    latency_scale: float = field(0.0, ge=0)
    rules: Rules = Rules()
    shaping: tuple = ()

    def __post_init__(self):
        if isinstance(self.rules, Mapping):
            object.__setattr__(self, "rules", rules_from(Rules(), self.rules))
        if isinstance(self.shaping, Mapping):
            object.__setattr__(self, "shaping", tuple(self.shaping.items()))
        pairs = isinstance(self.shaping, tuple) and all(
            isinstance(pair, tuple) and len(pair) == 2 and isinstance(pair[0], str)
            and isinstance(pair[1], (int, float)) and not isinstance(pair[1], bool) for pair in self.shaping)
        if not pairs:
            raise FieldError("shaping", f"must map potential names to weights, not {self.shaping!r}")
        validate(self)


def rules_from(base: Rules, changes: Mapping) -> Rules:
    """`base` with the rules named in `changes` switched; an unknown name is a one-line error."""
    known = {f.name for f in dataclasses.fields(Rules)}
    unknown = set(changes) - known
    if unknown:
        raise ValueError(f"unknown rule(s) {sorted(unknown)}; rules: {', '.join(sorted(known))}")
    try:
        return dataclasses.replace(base, **changes)
    except FieldError as e:
        raise e.within("rules") from None
