"""Training configs: one recipe (the dataclass defaults) and small per-game deltas.

The defaults of `TrainConfig` and its parts are the recipe every game starts from. A game's
delta ships inside the package (alphadev/configs/GAME.json) and names only the fields it
changes; a game without one trains with the recipe as it is. `load_config` layers: recipe,
the game's delta, a JSON file given by path (a delta of its own), keyword overrides; nested
dicts (`net`, `game_config`, its `rules` and `shaping`, ...) merge key by key. The planner implies the
learner's unroll wherever it is set, and the target length comes from the task unless given.
"""
from __future__ import annotations

import dataclasses
import json
from importlib import resources
from pathlib import Path
from typing import Optional

import games
from alphadev.learner import LearnerConfig
from alphadev.networks import NetConfig
from alphadev.search import POLICIES, SearchConfig

__all__ = ["ConfigError", "Ablation", "TrainConfig", "load_config", "load_run_config", "resume_config", "merge"]


class ConfigError(ValueError):
    """A bad training config; the message names the problem in one line."""


@dataclasses.dataclass(frozen=True)
class Ablation:
    """Knobs no shipped config uses, kept for experiments; each has a test."""
    temperature: float = 0.0        # self-play plays a sample of the search policy at this temperature (0: its choice)
    epsilon: float = 0.0            # ... or a uniformly random legal move with this chance
    td_steps: int = 0               # value targets: 0 Monte-Carlo, n > 0 n-step with the value heads
    max_backup: bool = False        # correctness targets: the search's best root action value (replay.py)
    archive_rerank_every: int = 0   # iterations between re-rankings of the archive by the current value (0: never)
    search_policy: str = "gumbel"   # or "muzero": mctx.muzero_policy with root noise (search.py)
    dirichlet_alpha: float = 0.03   # ... its root noise
    dirichlet_fraction: float = 0.25

    def __post_init__(self):
        if self.archive_rerank_every < 0:
            raise ValueError(f"archive_rerank_every must be 0 (never) or more, not {self.archive_rerank_every}")
        if self.search_policy not in POLICIES:
            raise ValueError(f"search_policy must be 'gumbel' or 'muzero', not {self.search_policy!r}")


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """A training run. The defaults are the recipe (see the module docstring)."""
    game: str
    target_length: Optional[int] = None  # stop once a correct program this short is recorded (None: the task's; 0: never)
    minutes: float = 10.0
    seed: int = 0
    selfplay_batch: int = 64
    replay_episodes: int = 4096
    archive_width: int = 100        # explorer's archive: distinct states kept per program length (0: off)
    archive_fraction: float = 0.75  # share of each self-play batch that starts from archive cells
    archive_value_weight: float = 1.0  # cells rank by earned + this x the search's value (archive.py)
    checkpoint_every: int = 20      # iterations
    log_every: int = 1
    net: NetConfig = NetConfig()
    search: SearchConfig = SearchConfig()
    learner: LearnerConfig = LearnerConfig()
    game_config: dict = dataclasses.field(default_factory=dict)
    ablation: Ablation = Ablation()

    def __post_init__(self):
        if self.archive_width < 0:
            raise ValueError(f"archive_width must be 0 (off) or more, not {self.archive_width}")
        if not 0.0 <= self.archive_fraction <= 1.0:
            raise ValueError(f"archive_fraction must be in [0, 1], not {self.archive_fraction}")
        if self.learner.unroll is None:  # the muzero planner trains its dynamics over 5 steps
            unroll = 5 if self.search.planner == "muzero" else 0
            object.__setattr__(self, "learner", dataclasses.replace(self.learner, unroll=unroll))

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


NESTED = {"net": NetConfig, "search": SearchConfig, "learner": LearnerConfig, "ablation": Ablation}


def _build(cls, data: dict, where: str):
    fields = {f.name for f in dataclasses.fields(cls)}
    unknown = set(data) - fields
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}; known: {', '.join(sorted(fields))}")
    try:
        return cls(**data)
    except (TypeError, ValueError) as e:
        raise ConfigError(f"{where}: {e}") from None


def _read(file: Path) -> dict:
    if not file.is_file():
        raise ConfigError(f"{file}: no such config file")
    try:
        data = json.loads(file.read_text())
    except json.JSONDecodeError as e:
        raise ConfigError(f"{file}: not valid JSON ({e.msg} at line {e.lineno})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{file}: a config is a JSON object")
    return data


def shipped_delta(game: str) -> dict:
    """The game's delta shipped in alphadev/configs/, or {} (the recipe as it is)."""
    file = resources.files("alphadev") / "configs" / f"{game}.json"
    return _read(Path(str(file))) if file.is_file() else {}


def from_dict(data: dict, where: str) -> TrainConfig:
    """A `TrainConfig` from a (possibly partial) dict; its game must be registered."""
    data = dict(data)
    game = data.get("game")
    if game not in games.names():
        raise ConfigError(f"{where}: unknown game {game!r}; games: {', '.join(games.names())}")
    for key, cls in NESTED.items():
        if isinstance(data.get(key), dict):
            data[key] = _build(cls, data[key], f"{where}: {key}")
    config = _build(TrainConfig, data, where)
    try:
        game_obj = games.make(game, **config.game_config)  # fail now on a bad game config
    except ValueError as e:
        raise ConfigError(f"{where}: game_config: {e}") from None
    if config.target_length is None:
        config = dataclasses.replace(config, target_length=game_obj.task.target_length or 0)
    return config


def merge(base: dict, delta: dict) -> dict:
    """`base` with `delta` laid over it; dicts in both merge key by key."""
    out = dict(base)
    for key, value in delta.items():
        both = isinstance(value, dict) and isinstance(out.get(key), dict)
        out[key] = merge(out[key], value) if both else value
    return out


def load_config(game: str, path: Optional[str] = None, **overrides) -> TrainConfig:
    """The config for `game`: the recipe, the game's shipped delta, the JSON at `path`, then
    the keyword `overrides` that are not None (`planner` sets `search.planner`)."""
    if game not in games.names():
        raise ConfigError(f"unknown game {game!r}; games: {', '.join(games.names())}")
    data = merge(shipped_delta(game), _read(Path(path)) if path else {})
    where = Path(path).name if path else f"{game} config"
    data = {**data, **{k: v for k, v in overrides.items() if v is not None}, "game": game}
    planner = data.pop("planner", None)
    if planner is not None:
        data["search"] = {**data.get("search", {}), "planner": planner}
    return from_dict(data, where)


def load_run_config(run: Path) -> TrainConfig:
    """The config a run directory was started with (its config.json)."""
    try:
        return from_dict(_read(Path(run) / "config.json"), f"{run}/config.json")
    except ConfigError as e:
        raise ConfigError(f"{e} (was the run started by another version of alphadev?)") from None


def resume_config(run: Path, game: str, path: Optional[str], **overrides) -> TrainConfig:
    """A resumed run's own config; `minutes` may extend it, any other override that differs
    from it is a one-line error (nothing is written before)."""
    config = load_run_config(run)
    if game != config.game:
        raise ConfigError(f"{run} is a {config.game} run, not {game}")
    if path:
        raise ConfigError(f"{run} resumes with its own config.json; --config is for a new run (use another --out)")
    given = {"seed": overrides.get("seed"), "planner": overrides.get("planner")}
    started = {"seed": config.seed, "planner": config.search.planner}
    for key, value in given.items():
        if value is not None and value != started[key]:
            raise ConfigError(f"{run} was started with {key} {started[key]}; {key} {value} conflicts (use another --out)")
    if overrides.get("minutes") is not None:
        config = dataclasses.replace(config, minutes=overrides["minutes"])
    return config
