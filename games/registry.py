"""Every game by name: `games.make(name)`, `games.names()`."""
from __future__ import annotations

import dataclasses
from typing import Callable

from games.game import Config, Game, Rules
from games.hash import HashTask
from games.sort import SortTask

# Comparators of the best known networks: the human baseline is 2N + 4C instructions.
COMPARATORS = {2: 1, 3: 3, 4: 5, 5: 9, 6: 12, 7: 16, 8: 19}


def _sort(n: int) -> Callable[[], tuple]:
    baseline = 2 * n + 4 * COMPARATORS[n]
    return lambda: (SortTask(n), Config(max_length=baseline + 4))


def _varsort(n: int) -> Callable[[], tuple]:
    # Branches: each path stores on its own, so "stores last" cannot hold; latency is executed.
    baseline = {3: 33, 4: 66, 5: 115}[n]
    return lambda: (SortTask(n, variable=True),
                    Config(max_length=baseline + 4, latency="executed", rules=Rules(stores_last=False)))


_REGISTRY: dict[str, Callable[[], tuple]] = {
    **{f"sort{n}": _sort(n) for n in range(2, 9)},
    **{f"varsort{n}": _varsort(n) for n in range(3, 6)},
    # The Abseil references take 9 instructions; room for twice that.
    "hash9to16": lambda: (HashTask(), Config(max_length=18)),
}


def register(name: str, factory: Callable[[], tuple]) -> None:
    """Adds a game: `factory()` returns (task, config)."""
    _REGISTRY[name] = factory


def names() -> list[str]:
    return list(_REGISTRY)


def make(name: str, **config) -> Game:
    """The game called `name`, with its default config updated by keyword arguments.

    Raises:
      ValueError: for an unknown name or config field, naming the valid ones.
    """
    if name not in _REGISTRY:
        raise ValueError(f"unknown game {name!r}; games: {', '.join(names())}")
    task, defaults = _REGISTRY[name]()
    fields = {f.name for f in dataclasses.fields(Config)}
    unknown = set(config) - fields
    if unknown:
        raise ValueError(f"unknown game config {sorted(unknown)}; fields: {', '.join(sorted(fields))}")
    return Game(task, dataclasses.replace(defaults, **config))
