"""Every task by name: `games.make(name)`, `games.task(name)`, `games.names()`, `games.register`."""
from __future__ import annotations

import dataclasses
import functools
from typing import Callable, Mapping

from games.config import Config, rules_from
from games.game import Game
from games.hash import HashTask
from games.sort import SortTask, VarSortTask
from games.task import Task

__all__ = ["register", "names", "task", "make", "load_tasks", "task_files"]

_REGISTRY: dict[str, Callable[[], Task]] = {
    **{f"sort{n}": functools.partial(SortTask, n) for n in range(2, 9)},
    **{f"varsort{n}": functools.partial(VarSortTask, n) for n in range(3, 6)},
    "hash9to16": HashTask,
}
_TASKS: dict[str, Task] = {}
_TASK_FILES: list[str] = []   # the files `load_tasks` ran, in order (a worker process runs them again)


def register(name: str, factory: Callable[[], Task]) -> None:
    """Adds (or replaces) a task: `factory()` returns a `Task` whose `name` is `name`."""
    _REGISTRY[name] = factory
    _TASKS.pop(name, None)


def load_tasks(path: str) -> None:
    """Runs a Python file that registers tasks (`register`), as `alphadev --tasks` does.

    Raises:
      OSError: no such file. ValueError: the file raised; both in one line.
    """
    import importlib.util
    from pathlib import Path
    file = Path(path)
    if not file.is_file():
        raise OSError(f"--tasks {path}: no such file")
    spec = importlib.util.spec_from_file_location(f"alphadev_tasks_{file.stem}", file)
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as e:  # the user's file: any error is theirs, in one line
        raise ValueError(f"--tasks {path}: {type(e).__name__}: {e}") from None
    _TASK_FILES.append(str(file.resolve()))


def task_files() -> list[str]:
    """The task files loaded so far (`load_tasks`), for another process to load them too."""
    return list(_TASK_FILES)


def names() -> list[str]:
    return list(_REGISTRY)


def task(name: str) -> Task:
    """The task called `name` (built once per process).

    Raises:
      ValueError: for an unknown name, naming the known ones.
    """
    if name not in _REGISTRY:
        raise ValueError(f"unknown game {name!r}; games: {', '.join(names())} (add your own: alphadev --tasks FILE.py)")
    if name not in _TASKS:
        try:
            built = _REGISTRY[name]()
        except TypeError as e:  # e.g. a Task subclass that leaves an abstract method out
            raise ValueError(f"task {name} cannot be built: {e}") from None
        if not isinstance(built, Task) or getattr(built, "name", None) != name:
            raise ValueError(f"the factory registered as {name!r} must return a games.Task named {name!r}")
        missing = [a for a in ("inputs", "vocabulary", "signature") if not hasattr(built, a)]
        if missing:
            raise ValueError(f"task {name} sets no {', '.join(missing)} (see docs/adding-a-kernel.md)")
        _TASKS[name] = built
    return _TASKS[name]


def make(name: str, **overrides) -> Game:
    """The game called `name`: its task's default `Config` with `overrides` replaced (a `rules`
    dict switches only the rules it names; a `games.Rules` replaces them all).

    Raises:
      ValueError: for an unknown name, config field, rule or potential, or an inconsistent rule
        set, in one line.
    """
    the_task = task(name)
    return Game(the_task, configure(the_task.config, overrides))


def configure(config: Config, overrides: Mapping) -> Config:
    fields = {f.name for f in dataclasses.fields(Config)}
    unknown = set(overrides) - fields
    if unknown:
        raise ValueError(f"unknown game config {sorted(unknown)}; fields: {', '.join(sorted(fields))}")
    rules = overrides.get("rules")
    if isinstance(rules, Mapping):
        overrides = {**overrides, "rules": rules_from(config.rules, rules)}
    return dataclasses.replace(config, **overrides)
