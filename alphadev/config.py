"""Training configs: one recipe (the dataclass defaults) and small per-game deltas.

The defaults of `TrainConfig` and its parts are the recipe every game starts from. A game's
delta ships inside the package (alphadev/configs/GAME.json) and names only the fields it
changes; a game without one trains with the recipe as it is. `load_config` layers: recipe,
the game's delta, a JSON file given by path (a delta of its own), keyword overrides; nested
dicts (`net`, `game_config`, its `rules` and `shaping`, ...) merge key by key. The planner implies the
learner's unroll wherever it is set, and the target length comes from the task unless given.
Every field declares its type and range where it is declared (games/fields.py), so a bad value
is a one-line `ConfigError` naming the file and the field's path (`net.dim`) when the config
loads, before anything is compiled or written.
"""
from __future__ import annotations

import dataclasses
import json
from importlib import resources
from pathlib import Path
from typing import Optional

import games
from games.fields import FieldError, field, validate
from alphadev.learner import LearnerConfig
from alphadev.networks import NetConfig
from alphadev.search import POLICIES, SearchConfig

__all__ = ["ConfigError", "Ablation", "TrainConfig", "load_config", "load_run_config", "resume_config", "merge"]


class ConfigError(ValueError):
    """A bad training config; the message names the problem in one line."""


@dataclasses.dataclass(frozen=True)
class Ablation:
    """Knobs no shipped config uses, kept for experiments; each has a test."""
    # self-play plays a sample of the search policy at this temperature (0: its choice) ...
    temperature: float = field(0.0, ge=0)
    epsilon: float = field(0.0, ge=0, le=1)  # ... or a uniformly random legal move with this chance
    td_steps: int = field(0, ge=0)           # value targets: 0 Monte-Carlo, n > 0 n-step with the value heads
    max_backup: bool = False                 # correctness targets: the search's best root action value (replay.py)
    # iterations between re-rankings of the archive by the current value (0: never)
    archive_rerank_every: int = field(0, ge=0)
    # or "muzero": mctx.muzero_policy with Dirichlet noise at the root (search.py)
    search_policy: str = field("gumbel", choices=POLICIES)
    dirichlet_alpha: float = field(0.03, gt=0)
    dirichlet_fraction: float = field(0.25, ge=0, le=1)
    # the network stays at its random initialisation (no learner steps): what the search, the
    # shaping and the archive find without learning, the baseline learning must beat
    frozen_network: bool = False
    # each correct episode from an archive cell is also replayed whole from the empty program,
    # the cell's moves as one-hot policy targets (replay.py, "Solutions whole")
    replay_solutions: bool = False

    def __post_init__(self):
        validate(self)


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """A training run. The defaults are the recipe (see the module docstring)."""
    game: str
    # stop once a correct program this short is recorded (None: the task's; 0: never)
    target_length: Optional[int] = field(None, ge=0)
    minutes: float = field(10.0, gt=0)
    seed: int = field(0, ge=0, le=2**32 - 1)
    selfplay_batch: int = field(64, ge=1)
    replay_episodes: int = field(4096, ge=1)
    archive_width: int = field(100, ge=0)   # explorer's archive: distinct states kept per program length (0: off)
    archive_fraction: float = field(0.75, ge=0, le=1)  # share of each self-play batch that starts from archive cells
    archive_value_weight: float = field(1.0, ge=0)     # cells rank by earned + this x the search's value (archive.py)
    checkpoint_every: int = field(20, ge=1)  # iterations
    log_every: int = field(1, ge=1)          # iterations
    diagnose_every: int = field(10, ge=0)    # iterations between the network's diagnostics (0: never)
    # processes that confirm new best programs on Unicorn and time them with llvm-mca, off the
    # loop's path (checks.py); 0: in the loop, as each is found. Not part of the run's identity.
    check_workers: int = field(1, ge=0)
    # at the target length: "stop", or "latency": go on until `minutes`, recording programs of
    # the best length that the game's latency (e.g. game_config.latency "cycles") ranks faster
    after_target: str = field("stop", choices=("stop", "latency"))
    net: NetConfig = NetConfig()
    search: SearchConfig = SearchConfig()
    learner: LearnerConfig = LearnerConfig()
    game_config: dict = dataclasses.field(default_factory=dict)
    ablation: Ablation = Ablation()

    def __post_init__(self):
        validate(self)
        if self.learner.unroll is None:  # the muzero planner trains its dynamics over 5 steps
            unroll = 5 if self.search.planner == "muzero" else 0
            object.__setattr__(self, "learner", dataclasses.replace(self.learner, unroll=unroll))

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


NESTED = {"net": NetConfig, "search": SearchConfig, "learner": LearnerConfig, "ablation": Ablation}


def _build(cls, data: dict, where: str, path: str = ""):
    """`cls(**data)`, its errors in one line naming the file (`where`) and the field's path."""
    fields = {f.name for f in dataclasses.fields(cls)}
    unknown = set(data) - fields
    if unknown:
        raise ConfigError(f"{where}: {path + ': ' if path else ''}unknown key(s) {', '.join(sorted(unknown))}; "
                          f"known: {', '.join(sorted(fields))}")
    try:
        return cls(**data)
    except FieldError as e:
        raise ConfigError(f"{where}: {e.within(path) if path else e}") from None
    except (TypeError, ValueError) as e:
        raise ConfigError(f"{where}: {path + ': ' if path else ''}{e}") from None


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
            data[key] = _build(cls, data[key], where, key)
    config = _build(TrainConfig, data, where)
    try:
        game_obj = games.make(game, **config.game_config)  # fail now on a bad game config
    except FieldError as e:
        raise ConfigError(f"{where}: {e.within('game_config')}") from None
    except ValueError as e:
        raise ConfigError(f"{where}: game_config: {e}") from None
    if config.target_length is None:
        config = dataclasses.replace(config, target_length=game_obj.task.target_length or 0)
    if config.after_target == "latency" and game_obj.config.latency == "length":
        raise ConfigError(f"{where}: after_target \"latency\" needs a game latency that can tell programs of one "
                          f"length apart: set game_config.latency to \"cycles\" (or \"executed\" for branches)")
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
    if planner is not None and isinstance(data.get("search", {}), dict):  # else: a one-line error below
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
