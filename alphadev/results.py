"""A discovered (or reference) program as a JSON record.

Fields: game, Intel-syntax text, length, latency figures, verification status, seed, config,
project version, time found, provenance (commit, libraries, machine). `load` reads a record or a bare `.s` file (then `game` must be
given) and checks every field's type; every problem with a file is a one-line `RecordError`
naming it.

A verification is bound to what it verified: `verify` stores a `digest` of (game, canonical
program, verification settings and outcome), and `Record.untrusted` recomputes it, so a record
whose program, game or verification was edited after `alphadev verify` ran is not verified.
The digest is a plain sha256, not a signature: it catches edits made without re-running
verify (by hand, by a script, by a bad merge), not someone who recomputes it on purpose.
"""
from __future__ import annotations

import dataclasses
import datetime
import hashlib
import json
from importlib import metadata
from pathlib import Path
from typing import Any, Optional

import isa


MIN_RANDOM_INPUTS = 100_000
"""Random inputs (besides the task's own) a verification needs before `export`, `bench` and
`show` call a program verified; also `alphadev verify`'s default. The task's own inputs are what
the search already optimized against, so a program checked on them alone (`--random 0`) is only
known to fit them; wrong programs that pass them fail on rarer values (INT_MIN and INT_MAX,
duplicates, every count and length), which `Task.random_inputs` draws often enough that 100,000
of them reach each such case many times over."""

_NONE = type(None)
_RECORD_TYPES = {"game": (str,), "text": (str,), "length": (int,), "latency": (dict,),
                 "verification": (dict, _NONE), "seed": (int, _NONE), "config": (dict, _NONE),
                 "version": (str,), "found": (str,), "source": (str,), "provenance": (dict, _NONE)}
_VERIFICATION_TYPES = {"unicorn": (bool,), "native": (bool,), "inputs": (int,), "random_inputs": (int,),
                       "when": (str,), "first_failure": (str, _NONE), "seed": (int, _NONE),
                       "digest": (str, _NONE), "battery": (dict, _NONE)}
_VERIFICATION_REQUIRED = ("unicorn", "native", "inputs", "random_inputs", "when")  # as older records have


class RecordError(ValueError):
    """A record or program file that cannot be used; the message names the file and the problem."""


_JSON_NAMES = {str: "a string", int: "an integer", bool: "true or false", dict: "an object", _NONE: "null"}
_COUNTS = ("length", "inputs", "random_inputs")  # the int fields that cannot be negative


def _type_problem(name: str, value: Any, types: tuple) -> Optional[str]:
    """Why field `name`'s `value` is not one of `types` (JSON's types: a bool is no int), or None."""
    if isinstance(value, bool) and bool not in types or not isinstance(value, types):
        names = " or ".join(_JSON_NAMES[t] for t in types)
        return f"must be {names}, not {json.dumps(value)[:40]}"
    if name in _COUNTS and value < 0:
        return f"must not be negative, not {value}"
    return None


def field_problem(data: Any) -> Optional[str]:
    """The first field of a record's JSON that has the wrong type, as `field: problem`, or None.

    Args:
      data: the parsed JSON of a record (anything `json.loads` returns).
    """
    if not isinstance(data, dict):
        return f"not a record (a JSON object), but {json.dumps(data)[:40]}"
    missing = [k for k in ("game", "text") if k not in data]
    if missing:
        return f"not a record (missing {', '.join(missing)})"
    for name, types in _RECORD_TYPES.items():
        if name in data and (problem := _type_problem(name, data[name], types)):
            return f"{name} {problem}"
    return verification_problem(data.get("verification"))


def verification_problem(v: Any) -> Optional[str]:
    """Why a record's `verification` has the wrong shape, as `verification...: problem`, or None."""
    if v is None:
        return None
    if not isinstance(v, dict):
        return f"verification must be an object or null, not {json.dumps(v)[:40]}"
    missing = [k for k in _VERIFICATION_REQUIRED if k not in v]
    if missing:
        return f"verification lacks {', '.join(missing)}"
    for name, types in _VERIFICATION_TYPES.items():
        if name in v and (problem := _type_problem(name, v[name], types)):
            return f"verification.{name} {problem}"
    if v.get("battery") is not None:
        from games import Verdict
        try:
            Verdict.from_dict(v["battery"])
        except (KeyError, TypeError, AttributeError):
            return "verification.battery is not a battery verdict (families of named checks)"
    return None


def canonical_text(program: isa.Program) -> str:
    """The program's text with its labels renamed `.L<index>`: equal programs, equal text."""
    return isa.to_text(isa.Program(program.instructions))


def verification_digest(game: str, program: isa.Program, verification: dict) -> str:
    """sha256 of the game, the canonical program and a verification's settings and outcome.

    Args:
      game: the game's name.
      program: the program verified.
      verification: a record's verification (`verify.Verification` as a dict); its digest and
        time are not part of what is hashed.
    Returns:
      The hex digest `verify` stores and `Record.untrusted` recomputes.
    """
    bound = {k: verification.get(k) for k in ("unicorn", "native", "inputs", "random_inputs", "seed")}
    if verification.get("battery") is not None:  # absent from records of tasks without one
        bound["battery"] = verification["battery"]
    payload = json.dumps({"game": game, "program": canonical_text(program), **bound}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()


def _has_battery(game: str) -> bool:
    import games
    return games.task(game).battery is not None


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
        "random_inputs": int, "seed": int, "when": ISO time, "first_failure": str or None,
        "digest": `verification_digest` of the rest, "battery": the task's battery verdict
        (`games.Verdict.to_dict`) or None}.
      seed, config: of the run that found it (None for a hand-written program).
      version: project version that wrote the record.
      found: ISO time it was found (or written).
      source: where it came from ("agent", "reference", a file name, ...).
      provenance: the code, libraries and machine that wrote it (`alphadev.provenance`): git
        commit and dirty flag, versions, CPU model, device kind. `Record.of` fills it in; None
        in records written before it existed.
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
    provenance: Optional[dict] = None

    @classmethod
    def of(cls, game: str, program: isa.Program, **fields: Any) -> "Record":
        """A new record of `program`, with this process's provenance unless given."""
        from alphadev.provenance import provenance
        fields.setdefault("provenance", provenance())
        return cls(game=game, text=isa.to_text(program), length=len(program), **fields)

    @property
    def program(self) -> isa.Program:
        return isa.parse(self.text)

    def origin(self) -> str:
        """The provenance in one line: "commit 1a2b3c4d5e6f (dirty), jax 0.10.2, ..., on CPU (device)"."""
        p = self.provenance
        if not p:
            return "provenance not recorded"
        commit = f"commit {str(p.get('commit'))[:12]}{' (dirty)' if p.get('dirty') else ''}" if p.get("commit") \
            else "not from a git checkout"
        versions = ", ".join(f"{k} {v}" for k, v in (p.get("versions") or {}).items() if k in ("jax", "flax", "mctx"))
        return f"{commit}, {versions}, on {p.get('cpu')} ({p.get('device')})"

    def untrusted(self, *, min_random: int = MIN_RANDOM_INPUTS) -> Optional[str]:
        """Why this record does not count as verified, in one line; None when it does.

        It does when Unicorn and native both passed (JSON `true`, nothing else), the digest
        matches the game, program and settings as they are now, the verification ran the game's
        battery where it has one, and at least `min_random` random inputs were run besides the
        task's own.

        Args:
          min_random: the least random inputs accepted (`MIN_RANDOM_INPUTS` unless the caller
            states a lower bar, as tests do to keep verification fast).
        """
        v = self.verification
        if v is None:
            return "not verified: run `alphadev verify` first"
        if problem := verification_problem(v):
            return problem
        if v["unicorn"] is not True or v["native"] is not True:
            failed = " and ".join(b for b in ("unicorn", "native") if v[b] is not True)
            return f"verification failed on {failed}" + (f" ({v['first_failure']})" if v.get("first_failure") else "")
        if not v.get("digest"):
            return "the verification carries no digest (an older record): re-run `alphadev verify`"
        if v["digest"] != verification_digest(self.game, self.program, v):
            return "the program or game changed since verification: re-run `alphadev verify`"
        if v.get("battery") is None and _has_battery(self.game):
            return "verified without the game's battery (an older record): re-run `alphadev verify`"
        if v["random_inputs"] < min_random:
            return (f"verified on {v['random_inputs']:,} random inputs, below the minimum of {min_random:,}: "
                    f"re-run `alphadev verify` with --random {min_random} or more")
        return None

    @property
    def verified(self) -> bool:
        """Whether `untrusted()` finds nothing wrong, at the default minimum."""
        return self.untrusted() is None

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
      RecordError: missing file, bad JSON, missing fields or fields of the wrong type,
        unparsable program, unknown game.
    """
    path = Path(path)
    if not path.is_file():
        raise RecordError(f"{path}: no such file")
    try:
        text = path.read_text()
    except UnicodeDecodeError:
        raise RecordError(f"{path}: not a text file") from None
    if path.suffix == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise RecordError(f"{path}: not valid JSON ({e.msg} at line {e.lineno})") from None
        if problem := field_problem(data):
            raise RecordError(f"{path}: {problem}")
        fields = {f.name for f in dataclasses.fields(Record)}
        record = Record(**{k: v for k, v in data.items() if k in fields} | {"length": data.get("length", 0)})
        if game and game != record.game:
            raise RecordError(f"{path}: a record for {record.game}, not {game}")
    else:
        if not game:
            raise RecordError(f"{path}: a program file needs --game")
        from alphadev.provenance import provenance
        record = Record(game=game, text=text, length=0, source=path.name, provenance=provenance())
    try:
        program = isa.parse(record.text)
    except isa.ParseError as e:  # a record's lines are those of its "text" field
        raise RecordError(f"{path}: {'text ' if path.suffix == '.json' else ''}{e}") from None
    import games
    try:
        games.task(record.game)
    except ValueError as e:  # unknown, or a task whose factory fails
        raise RecordError(f"{path}: {e}") from None
    record.text, record.length = isa.to_text(program), len(program)
    return record
