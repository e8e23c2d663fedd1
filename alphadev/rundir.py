"""A run directory: what a search writes as it goes, and what notebooks read back.

    DIR/run.json                the run's identity: game, seed, planner, digest of its config
    DIR/lock                    held (flock) by the one process writing the run
    DIR/records/0001.json ...   one `Record` per improvement, in order
    DIR/best.json               the best record so far
    DIR/metrics.csv             one row per logging step (columns fixed by the first row)
    DIR/candidates.jsonl        every distinct correct program at most as long as the best then,
                                with its model cycles, one JSON line each (for `alphadev rerank`)

Reading (`records`, `best`, `metrics`) needs nothing. A training writes only after `claim`:
the directory's identity must be this run's (or the directory holds no run yet) and no other
process may hold its lock; either problem is a one-line `RunDirError` before anything is
written. Every file is replaced whole (a temporary file, then a rename), except metrics.csv,
which is appended to; a row cut short by a kill is dropped when the run resumes.
"""
from __future__ import annotations

import csv
import errno
import fcntl
import hashlib
import io
import json
import os
import sys
from pathlib import Path
from typing import Optional

from alphadev.results import Record, RecordError, load

IDENTITY, LOCK, CANDIDATES = "run.json", "lock", "candidates.jsonl"
# What a run leaves in its directory: any of them without an identity is someone else's run.
RUN_FILES = ("best.json", "metrics.csv", "config.json", "checkpoints", "replay.npz", "archive.npz", "candidates.jsonl")


class RunDirError(ValueError):
    """A run directory that cannot be used as asked; the message says why and what to do."""


def warn(message: str) -> None:
    """One line on stderr for a problem the run recovered from."""
    print(f"alphadev: warning: {message}", file=sys.stderr, flush=True)


def one_line(error: BaseException) -> str:
    """`error` as `Type: message` on one line (library messages may span several)."""
    text = " ".join(str(error).split())
    return f"{type(error).__name__}: {text[:300]}" if text else type(error).__name__


# Settings a resumed run may change and stay the same run: `minutes` (it may extend it) and
# `check_workers` (where the checks of its programs run, not what they find).
NOT_IDENTITY = ("minutes", "check_workers")


def identity(config: dict) -> dict:
    """What makes a run the same run: its game, seed, planner and config.

    Args:
      config: `TrainConfig.to_dict()`, or a baseline search's settings (alphadev/baselines),
        whose "method" stands for the planner.
    Returns:
      {"game", "seed", "planner", "config"}: "config" is a digest of the config less
      `NOT_IDENTITY`.
    """
    rest = {k: v for k, v in config.items() if k not in NOT_IDENTITY}
    digest = hashlib.sha256(json.dumps(rest, sort_keys=True).encode()).hexdigest()[:16]
    planner = config["search"]["planner"] if "search" in config else config["method"]
    return dict(game=config["game"], seed=config["seed"], planner=planner, config=digest)


def _describe(ident: dict) -> str:
    return f"{ident.get('game')} seed {ident.get('seed')} planner {ident.get('planner')}"


class RunDir:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        if self.path.exists() and not self.path.is_dir():
            raise RunDirError(f"{self.path}: exists and is not a directory")
        self._lock: Optional[io.TextIOBase] = None

    # -- claiming the directory for one writer ----------------------------------------------

    @property
    def claimed(self) -> bool:
        return self._lock is not None

    def claim(self, config: dict) -> None:
        """Makes this process the directory's one writer, for the run of `config`.

        Checks the identity, takes the lock, writes the identity of a new run, and repairs what
        a kill can leave: temporary files, and a best.json older than the newest record.

        Args:
          config: the run's `TrainConfig.to_dict()`.
        Raises:
          RunDirError: another run's directory, a run without an identity, another writer, or an
            unreadable file (the message names it and what to do).
        """
        if self.claimed:
            return
        ident = identity(config)
        self._check_identity(ident, config)  # before the lock file, so that a mismatch writes nothing
        self.path.mkdir(parents=True, exist_ok=True)
        # flock, not a lock file's existence: the kernel drops the lock when its process ends,
        # however it ends (kill -9 included), so a lock is never stale. The file stays.
        lock = open(self.path / LOCK, "a+")  # closed, so unlocked, also when this object is collected
        try:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            lock.close()
            if e.errno not in (errno.EWOULDBLOCK, errno.EACCES):
                raise
            holder = (self.path / LOCK).read_text().strip() or "?"
            raise RunDirError(f"{self.path} is being written by another training (pid {holder}); "
                              "wait for it to end, or use another --out") from None
        lock.truncate(0)
        lock.write(f"{os.getpid()}\n")
        lock.flush()
        self._lock = lock
        try:
            self._check_identity(ident, config)  # again: another process may have started it meanwhile
            if not (self.path / IDENTITY).exists():
                write_whole(self.path / IDENTITY, json.dumps(ident, indent=2) + "\n")
            self._repair()
        except BaseException:
            self.release()
            raise

    def release(self) -> None:
        if self._lock is not None:
            self._lock.close()  # closing the file drops the flock
            self._lock = None

    def _check_identity(self, ident: dict, config: dict) -> None:
        file = self.path / IDENTITY
        if not file.exists():
            held = [name for name in RUN_FILES if (self.path / name).exists()] + [
                f"records/{p.name}" for p in sorted((self.path / "records").glob("*.json"))][:1]
            if held:
                raise RunDirError(f"{self.path} holds a run without {IDENTITY} ({held[0]}; written by an older "
                                  f"alphadev or another tool): use another --out, or delete {self.path} to start over")
            return
        try:
            stored = json.loads(file.read_text())
            assert isinstance(stored, dict) and {"game", "seed", "planner", "config"} <= set(stored)
        except (OSError, UnicodeDecodeError, json.JSONDecodeError, AssertionError):
            raise RunDirError(f"{file}: unreadable, so the run's identity is unknown: restore the file, "
                              f"or use another --out, or delete {self.path} to start over") from None
        if any(stored[k] != ident[k] for k in ("game", "seed", "planner")):
            raise RunDirError(f"{self.path} is the run of {_describe(stored)}, not {_describe(ident)}: "
                              f"use another --out, or delete {self.path} to start over")
        if stored["config"] != ident["config"]:
            raise RunDirError(f"{self.path} was started with another config{self._config_difference(config)}: resume "
                              f"it with its own config.json (no --config), or use another --out")

    def _config_difference(self, config: dict) -> str:
        """' (it differs in a, b.c)' against config.json where that is readable, else ''. (The
        digest cannot say which fields differ; config.json can, unless it was changed since.)"""
        try:
            started = json.loads((self.path / "config.json").read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            return ""

        def flat(d, prefix=""):
            out = {}
            for k, v in d.items():
                out.update(flat(v, f"{prefix}{k}.") if isinstance(v, dict) else {f"{prefix}{k}": v})
            return out
        a, b = flat(started) if isinstance(started, dict) else {}, flat(config)
        differ = sorted(k for k in a.keys() | b.keys() if k not in NOT_IDENTITY and a.get(k) != b.get(k))
        return f" (it differs in {', '.join(differ[:6])})" if differ else ""

    def _repair(self) -> None:
        for tmp in [*self.path.glob("*.tmp*"), *(self.path / "records").glob("*.tmp*")]:
            if tmp.is_file():
                tmp.unlink()  # a write a kill cut short; its target is whole (old or new)
        self.metric_rows()  # an unreadable metrics.csv stops the run now, not after an iteration
        numbers = self._numbers()
        if not numbers:
            return
        # Every record, not just the newest: a damaged one would otherwise surface later, in a
        # notebook or a tool reading the run, far from its cause.
        for number in numbers:
            try:
                record = load(self.path / "records" / f"{number:04d}.json")
            except RecordError as e:
                raise RunDirError(f"{e}; move it out of {self.path / 'records'} to resume") from None
        newest = self.path / "records" / f"{numbers[-1]:04d}.json"
        best = self.best()
        if best is None or record.length < best.length:
            # A kill between writing a record and best.json: best.json must not stay behind.
            record.save(self.path / "best.json")
            warn(f"{self.path / 'best.json'} was {'behind' if best else 'missing beside'} {newest.name} "
                 "(a run stopped between the two writes, or it was deleted); written again from it")

    # -- records ----------------------------------------------------------------------------

    def _numbers(self) -> list[int]:
        return sorted(int(p.stem) for p in (self.path / "records").glob("*.json") if p.stem.isdigit())

    def records(self) -> list[Record]:
        return [load(p) for p in sorted((self.path / "records").glob("*.json"))]

    def add(self, record: Record) -> Path:
        """Writes the next numbered record, then makes it best.json (each file written whole, in
        that order, so that a kill between them leaves a record `claim` brings best.json up to)."""
        numbers = self._numbers()
        path = record.save(self.path / "records" / f"{(numbers[-1] if numbers else 0) + 1:04d}.json")
        record.save(self.path / "best.json")
        return path

    def best(self) -> Record | None:
        best = self.path / "best.json"
        if not best.exists():
            return None
        try:
            return load(best)
        except RecordError as e:
            raise RunDirError(f"{e}; delete it, and the next run rebuilds it from {self.path / 'records'}") from None

    # -- candidates: every distinct correct program kept, for a native re-ranking ----------------

    def add_candidate(self, text: str, length: int, model_cycles: float) -> None:
        """Appends one candidate line (a line a kill cuts short is dropped when read)."""
        self.path.mkdir(parents=True, exist_ok=True)
        with (self.path / CANDIDATES).open("a") as f:
            f.write(json.dumps(dict(text=text, length=length, model_cycles=round(model_cycles, 4))) + "\n")

    def candidates(self) -> list[dict]:
        """The candidates kept so far: {"text", "length", "model_cycles"} each, in order."""
        path = self.path / CANDIDATES
        out = []
        for line in (path.read_text().splitlines() if path.exists() else []):
            try:
                item = json.loads(line)
                out.append(dict(text=str(item["text"]), length=int(item["length"]),
                                model_cycles=float(item["model_cycles"])))
            except (json.JSONDecodeError, KeyError, TypeError, ValueError):
                continue  # a line a kill cut short
        return out

    # -- metrics ----------------------------------------------------------------------------

    def log(self, **row) -> None:
        """Appends a row to metrics.csv. A row with columns the file lacks (a run resumed by a
        newer alphadev) first widens the file, NaN in those columns of the rows before; a
        column the row lacks gets NaN."""
        path = self.path / "metrics.csv"
        header = self._header()
        if header and not set(row) <= set(header):
            header = self._widen([*header, *(k for k in row if k not in header)])
        with path.open("a", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=header or list(row), restval="nan")
            if not header:
                writer.writeheader()
            writer.writerow(row)

    def _header(self) -> list[str]:
        path = self.path / "metrics.csv"
        if not path.exists():
            return []
        with path.open(newline="") as f:
            return next(csv.reader([f.readline()]), [])

    def _widen(self, columns: list[str]) -> list[str]:
        """Rewrites metrics.csv whole with `columns` (its own, then new ones, NaN in its rows)."""
        header, rows = self.metric_rows()
        out = io.StringIO()
        filled = [[*row, *["nan"] * (len(columns) - len(header))] for row in rows]
        csv.writer(out, lineterminator="\r\n").writerows([columns, *filled])  # as csv.DictWriter writes
        write_whole(self.path / "metrics.csv", out.getvalue())
        return columns

    def metric_rows(self) -> tuple[list[str], list[list[str]]]:
        """metrics.csv as (header, complete rows); a last row a kill cut short is left out.

        Raises:
          RunDirError: a file that is not a table of numbers with one header.
        """
        path = self.path / "metrics.csv"
        if not path.exists():
            return [], []
        fix = f"move it aside to resume (a new one is started), or delete {self.path} to start over"
        try:
            text = path.read_text()
        except (OSError, UnicodeDecodeError) as e:
            raise RunDirError(f"{path}: unreadable ({one_line(e)}); {fix}") from None
        complete = text[: text.rfind("\n") + 1]  # a row without its newline was cut short
        lines = list(csv.reader(io.StringIO(complete)))
        if not lines:
            return [], []
        header, rows = lines[0], lines[1:]
        for n, row in enumerate(rows, start=2):
            try:
                assert len(row) == len(header)
                [float(x) for x in row]
            except (AssertionError, ValueError):
                raise RunDirError(f"{path}: line {n} is not a row of {len(header)} numbers; {fix}") from None
        return header, rows

    def truncate_metrics(self, upto: int, column: str = "iteration") -> int:
        """Keeps the rows whose `column` is at most `upto` (a resumed run logs the rest again).

        Returns:
          How many rows were dropped.
        """
        header, rows = self.metric_rows()
        path = self.path / "metrics.csv"
        if not header:
            if path.exists():
                path.unlink()  # nothing but a header cut short
            return 0
        if column not in header:
            raise RunDirError(f"{path}: no {column!r} column; move it aside to resume (a new one is started)")
        at = header.index(column)
        kept = [row for row in rows if float(row[at]) <= upto]
        if len(kept) < len(rows) or not path.read_text().endswith("\n"):
            out = io.StringIO()
            csv.writer(out, lineterminator="\r\n").writerows([header, *kept])  # as csv.DictWriter writes
            write_whole(path, out.getvalue())
        return len(rows) - len(kept)

    def metrics(self) -> dict[str, list[float]]:
        header, rows = self.metric_rows()
        return {k: [float(r[i]) for r in rows] for i, k in enumerate(header)}


def write_whole(path: Path, text: str) -> None:
    """Writes `path` whole: a kill leaves the old file or the new one, never a part."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    tmp.replace(path)
