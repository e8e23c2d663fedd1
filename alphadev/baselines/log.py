"""What every baseline search writes: the run directory the agent writes, in the same format.

Records (each confirmed on Unicorn first), best.json, metrics.csv and candidates.jsonl, so that
`verify`, `bench`, `export`, `show`, `plot`, `rerank` and the notebook read a baseline's run as
they read a training's. A search that lists several programs of the best length (astar with
all=true) writes each as a candidate and the ones it keeps to `alternatives/NNNN.json`, records
in the same format.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Optional

import jax
import numpy as np

import games
import isa
from alphadev.results import Record
from alphadev.rundir import RunDir, RunDirError, warn

__all__ = ["LOG_SECONDS", "SearchLog"]

LOG_SECONDS = 1.0  # the most time between metrics rows (a random search plays a batch in milliseconds)


class SearchLog:
    """The run directory of one baseline search, claimed for this process.

    A baseline keeps no checkpoint, so it never resumes: the directory must hold no run yet
    (an interrupted search keeps its records; start it again with another --out).

    Args:
      game: the `games.Game` searched.
      config: the search's settings: "game", "seed", "method", "minutes" and the method's own.
      out: the run directory.
      target_length: stop once a correct program this short is recorded (0: never).
      quiet: print nothing.
    """

    def __init__(self, game: games.Game, config: dict, out: str | Path, *, target_length: int = 0,
                 quiet: bool = False):
        self.game, self.config, self.quiet = game, dict(config), quiet
        self.target_length = target_length
        self.run = RunDir(out)
        if (self.run.path / "run.json").exists():
            raise RunDirError(f"{self.run.path} already holds a run; a {config['method']} search does not resume: "
                              "use another --out")
        self.run.claim(self.config)
        self.start = time.perf_counter()
        self.best: Optional[Record] = None
        self.best_items, self.step = 0.0, 0
        self._pending, self._logged_at = None, -1e9  # the last row not yet written, and when one was
        self._last: Optional[dict] = None  # the last row written
        self.found_at: list[tuple[float, int]] = []  # (elapsed s, length) of every record
        self._candidates: dict[str, float] = {}  # program text -> model cycles, as written

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    @property
    def best_length(self) -> Optional[int]:
        return self.best.length if self.best else None

    def done(self) -> bool:
        """A correct program of the target length (or shorter) is recorded."""
        return bool(self.target_length) and self.best is not None and self.best.length <= self.target_length

    def saw(self, items: float) -> None:
        """Counts the item fraction of a program the method looked at towards `best_items`."""
        self.best_items = max(self.best_items, float(items))

    def better(self, length: int) -> bool:
        return self.best is None or length < self.best.length

    def offer(self, state: games.State) -> bool:
        """Records the program of one (unbatched) state if it is correct and shorter than the best.

        Its items count towards `best_items` either way.

        Returns:
          Whether it was recorded.
        Raises:
          MachineDisagreement: Unicorn judges the program differently from the JAX game (a bug).
        """
        state = jax.device_get(state)
        self.best_items = max(self.best_items, float(state.items))
        if not bool(state.correct) or not self.better(int(state.length)):
            return False
        score = self.game.confirm(state)
        return self.record(self.game.program(state), executed=score.executed)

    def record(self, program: isa.Program, *, executed: float, note: str = "") -> bool:
        """Writes a correct program, confirmed by the caller, as the next record (`note`, when
        given, is added to its source: what the method can say of it, e.g. not proven shortest)."""
        if not self.better(len(program)):
            return False
        model = self.candidate(program)
        latency = {"executed": executed, "model_cycles": model}
        try:
            latency.update(cycles=isa.latency.cycles(program), mcpu="skylake")
        except (isa.latency.McaUnavailable, ValueError) as e:
            warn(f"no llvm-mca cycles for the record ({e})")
        self.best = Record.of(self.config["game"], program, seed=self.config["seed"], config=self.config,
                              source=f"alphadev search ({self.config['method']}{', ' + note if note else ''})",
                              latency=latency)
        self.best_items = 1.0
        self.run.add(self.best)
        self.found_at.append((self.elapsed, len(program)))
        self.say(f"new best: {len(program)} instructions at {self.elapsed:.1f} s (confirmed on Unicorn)")
        return True

    def candidate(self, program: isa.Program, model_cycles: Optional[float] = None) -> float:
        """Appends a correct program to candidates.jsonl (what `alphadev rerank` times natively,
        fewest model cycles first); returns its model cycles (computed when not given)."""
        text = isa.to_text(program)
        if text not in self._candidates:   # each distinct program once
            self._candidates[text] = self.game.model_cycles(program) if model_cycles is None else model_cycles
            self.run.add_candidate(text, len(program), self._candidates[text])
        return self._candidates[text]

    def alternative(self, program: isa.Program, *, executed: float, model_cycles: float,
                    cycles: Optional[int]) -> Path:
        """Writes a correct program, confirmed by the caller, that is no shorter than the best, as
        the next `alternatives/NNNN.json`: a record like those in `records/` (so verify, show,
        bench and export read it), for searches that list several programs of one length."""
        record = Record.of(self.config["game"], program, seed=self.config["seed"], config=self.config,
                           source=f"alphadev search ({self.config['method']}), an alternative",
                           latency={"executed": executed, "model_cycles": model_cycles, "cycles": cycles,
                                    "mcpu": "skylake"})
        folder = self.run.path / "alternatives"
        number = len(list(folder.glob("*.json"))) + 1 if folder.exists() else 1
        return record.save(folder / f"{number:04d}.json")

    def log(self, *, explored: int, **extra: float) -> None:
        """A metrics row: the step, time, best so far, states or programs explored, and `extra`.

        The first row fixes the columns, so a method logs the same `extra` names every time.
        Rows are written at most every `LOG_SECONDS`, and at once after a new record; `close`
        writes the last one, so the final figures are always on disk.
        """
        self.step += 1
        self._pending = dict(step=self.step, elapsed_s=round(self.elapsed, 3), best_items=round(self.best_items, 6),
                             best_length=self.best_length or 0, explored=int(explored),
                             **{k: float(np.asarray(v)) for k, v in extra.items()})
        recorded = bool(self.found_at) and self.found_at[-1][0] >= self._logged_at
        if recorded or self.elapsed - self._logged_at >= LOG_SECONDS:
            self._write()

    def _write(self) -> None:
        if self._pending is not None:
            self.run.log(**self._pending)
            self._last, self._pending, self._logged_at = self._pending, None, self.elapsed

    def say(self, text: str) -> None:
        if not self.quiet:
            print(f"[{self.config['game']} {self.config['method']}] {text}", flush=True)

    def close(self) -> None:
        """Writes the last metrics row, brought up to the best found and the time now (a record
        may have come after it was made), and releases the directory."""
        try:
            last = self._pending or self._last
            if last is not None and (self._pending is not None or last["best_length"] != (self.best_length or 0)):
                self._pending = dict(last, step=self.step + (self._pending is None), elapsed_s=round(self.elapsed, 3),
                                     best_items=round(self.best_items, 6), best_length=self.best_length or 0)
            self._write()
        finally:
            self.run.release()
