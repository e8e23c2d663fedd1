"""A discovered (or reference) program as a JSON record.

Fields: game, Intel-syntax text, length, latency figures, verification status, seed, config,
project version, time found. `load` reads a record or a bare `.s` file (then `game` must be
given); every problem with a file is a one-line `RecordError` naming it.
"""
from __future__ import annotations

import dataclasses
import datetime
import json
from importlib import metadata
from pathlib import Path
from typing import Any, Optional

import isa


class RecordError(ValueError):
    """A record or program file that cannot be used; the message names the file and the problem."""


def project_version() -> str:
    try:
        return metadata.version("alphadev")
    except metadata.PackageNotFoundError:
        return "unknown"


def now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


@dataclasses.dataclass
class Record:
    """One program and what is known about it.

    Attributes:
      game: the game it solves (`games.names()`).
      text: Intel-syntax program (`isa.to_text`).
      length: instructions.
      latency: figures such as {"cycles": 17, "mcpu": "skylake", "executed": 18.0}.
      verification: None until verified; then {"unicorn": bool, "native": bool, "inputs": int,
        "random_inputs": int, "when": ISO time, "first_failure": str or None}.
      seed, config: of the run that found it (None for a hand-written program).
      version: project version that wrote the record.
      found: ISO time it was found (or written).
      source: where it came from ("agent", "reference", a file name, ...).
    """
    game: str
    text: str
    length: int
    latency: dict = dataclasses.field(default_factory=dict)
    verification: Optional[dict] = None
    seed: Optional[int] = None
    config: Optional[dict] = None
    version: str = dataclasses.field(default_factory=project_version)
    found: str = dataclasses.field(default_factory=now)
    source: str = ""

    @classmethod
    def of(cls, game: str, program: isa.Program, **fields: Any) -> "Record":
        return cls(game=game, text=isa.to_text(program), length=len(program), **fields)

    @property
    def program(self) -> isa.Program:
        return isa.parse(self.text)

    @property
    def verified(self) -> bool:
        v = self.verification or {}
        return bool(v.get("unicorn")) and bool(v.get("native"))

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=2) + "\n"

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(self.to_json())
        tmp.replace(path)  # a record is never left half-written
        return path


def load(path: str | Path, game: Optional[str] = None) -> Record:
    """Reads a JSON record, or an Intel-syntax `.s` file as a new record for `game`.

    Raises:
      RecordError: missing file, bad JSON, missing fields, unparsable program, unknown game.
    """
    path = Path(path)
    if not path.is_file():
        raise RecordError(f"{path}: no such file")
    text = path.read_text()
    if path.suffix == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise RecordError(f"{path}: not valid JSON ({e.msg} at line {e.lineno})") from None
        fields = {f.name for f in dataclasses.fields(Record)}
        missing = {"game", "text"} - set(data)
        if not isinstance(data, dict) or missing:
            raise RecordError(f"{path}: not a record (missing {', '.join(sorted(missing)) or 'fields'})")
        record = Record(**{k: v for k, v in data.items() if k in fields} | {"length": data.get("length", 0)})
        if game and game != record.game:
            raise RecordError(f"{path}: a record for {record.game}, not {game}")
    else:
        if not game:
            raise RecordError(f"{path}: a program file needs --game")
        record = Record(game=game, text=text, length=0, source=path.name)
    try:
        program = isa.parse(record.text)
    except isa.ParseError as e:
        raise RecordError(f"{path}: {e}") from None
    import games
    try:
        games.task(record.game)
    except ValueError as e:  # unknown, or a task whose factory fails
        raise RecordError(f"{path}: {e}") from None
    record.text, record.length = isa.to_text(program), len(program)
    return record
