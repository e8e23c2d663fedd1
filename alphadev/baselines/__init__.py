"""Baseline searches beside the agent, each writing a run directory in the agent's format.

    alphadev search GAME --method astar|stochastic|beam|random|agent [--minutes M] [--seed S]

Every method plays the same game (the task, rules and length limit the agent's config builds),
confirms each new best on Unicorn, and writes records, best.json and metrics.csv (`log.py`), so
`verify`, `bench`, `export`, `plot` and the notebook work on any of them. A method is a function
`search(game, log, *, seconds, seed, **options)`; `METHODS` lists each with its options'
defaults, which `--set NAME=VALUE` overrides.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Callable, Optional

import games
from alphadev.baselines import astar, beam, random, stochastic
from alphadev.baselines.log import SearchLog
from alphadev.results import Record

__all__ = ["METHODS", "Method", "SearchLog", "parse_options", "run"]


@dataclasses.dataclass(frozen=True)
class Method:
    search: Callable
    options: dict  # name -> default; the default's type is the option's type
    # (game, options) -> None: raises a one-line ValueError for a game the method cannot search
    # or options that cannot work (a missing file, ...) before the run directory is claimed, so
    # either writes nothing.
    check: Optional[Callable] = None


METHODS: dict[str, Method] = {
    "astar": Method(astar.search, dict(all=False, chunk=128, batch=1024, limit=5000, rank=200, keep=5,
                                       order="exact", weight=2.5, guided_batch=256, budget=0, slack=4,
                                       collect=0), check=astar.check),
    "beam": Method(beam.search, dict(width=64, max_width=4096, chunk=4096)),
    "random": Method(random.search, dict(batch=256)),
    "stochastic": Method(stochastic.method, {"chains": 32, "beta": 100.0, "alpha": 0.005, "shaping": 0.5,
                                             "max_length": 0, "steps": 256, "init": "empty", "from": ""}, stochastic.check),
}


def parse_options(method: str, items: list[str]) -> dict:
    """`NAME=VALUE` strings as the method's options, each of its default's type.

    Raises:
      ValueError: one line, for an unknown method or option or a value of the wrong type.
    """
    if method not in METHODS:
        raise ValueError(f"no method {method!r}; the methods are {', '.join(names())}")
    defaults, out = METHODS[method].options, {}
    for item in items:
        name, eq, text = item.partition("=")
        if not eq or name not in defaults:
            known = ", ".join(f"{k}={v}" for k, v in defaults.items()) or "none"
            raise ValueError(f"--set {item}: {method} takes NAME=VALUE for its options ({known})")
        kind = type(defaults[name])
        try:
            value = {"True": True, "true": True, "False": False, "false": False}[text] if kind is bool else kind(text)
        except (KeyError, ValueError):
            raise ValueError(f"--set {item}: {name} takes a {kind.__name__}") from None
        if kind in (int, float) and value < 0:
            raise ValueError(f"--set {item}: {name} must not be negative")
        out[name] = value
    return out


def names() -> list[str]:
    return [*METHODS, "agent"]


def run(method: str, game_name: str, out: str | Path, *, minutes: float, seed: int = 0,
        options: Optional[dict] = None, target_length: Optional[int] = None, quiet: bool = False) -> Optional[Record]:
    """Runs one baseline search into a new run directory.

    Args:
      method: a key of `METHODS`.
      game_name: a registered game; it is built with the agent's game config for it
        (`alphadev.config.load_config(game).game_config`), so both play the same game.
      out: the run directory (it must hold no run yet).
      minutes: the time budget, compilation included.
      seed: the method's seed.
      options: the method's options (`parse_options`).
      target_length: stop once a correct program this short is recorded (None: the task's
        AlphaDev length where it has one; 0: never).
      quiet: print nothing.
    Returns:
      The best record, or None when no correct program was found.
    """
    from alphadev.config import load_config
    options = {**METHODS[method].options, **(options or {})}
    game_config = load_config(game_name).game_config
    game = games.make(game_name, **game_config)
    if target_length is None:
        target_length = game.task.target_length or 0
    if METHODS[method].check is not None:
        METHODS[method].check(game, options)
    config = dict(game=game_name, seed=seed, method=method, minutes=minutes, target_length=target_length,
                  game_config=game_config, options=options)
    log = SearchLog(game, config, out, target_length=target_length, quiet=quiet)
    try:
        log.say(f"seed {seed}, {minutes:g} min, target length {target_length or '-'}; run directory {out}")
        METHODS[method].search(game, log, seconds=60 * minutes, seed=seed, **options)
        log.say(f"best {log.best_length or '-'} after {log.elapsed:.1f} s" + (" - target reached" if log.done() else ""))
        return log.best
    finally:
        log.close()
