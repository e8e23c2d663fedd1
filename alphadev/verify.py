"""Verification of a program on Unicorn and natively, beyond the search-time inputs.

Sorts: the full test set plus `n_random` random inputs (default 100,000): uniform int32,
INT32_MIN and INT32_MAX, zero, and vectors drawn from a handful of values (duplicates), with
fixed-seed noise in every register; varsort draws the count uniformly and runs each count with a
data region of exactly n + 1 slots. Hash: its quality on the corpus on both backends, plus
random strings of every length 9..16 that must run without a fault and give the same result on
both. A program passes only when both backends pass and agree with each other.
"""
from __future__ import annotations

import dataclasses
from typing import Optional

import numpy as np

import games
import isa
from alphadev.results import now
from games.hash import HashTask
from games.sort import SortTask

INT32_MIN, INT32_MAX = -2**31, 2**31 - 1
BACKENDS = ("unicorn", "native")


@dataclasses.dataclass
class Verification:
    unicorn: bool
    native: bool
    inputs: int
    random_inputs: int
    when: str
    first_failure: Optional[str]

    @property
    def passed(self) -> bool:
        return self.unicorn and self.native


def random_sort_values(n_inputs: int, n: int, rng: np.random.Generator) -> np.ndarray:
    """[n_inputs, n] int32 mixing full-range values, extremes, zero and duplicates."""
    full = rng.integers(INT32_MIN, INT32_MAX, (n_inputs, n), endpoint=True)
    extremes = np.array([INT32_MIN, INT32_MAX, 0, -1, 1])[rng.integers(0, 5, (n_inputs, n))]
    few = rng.integers(-3, 4, (n_inputs, n))
    kind = rng.integers(0, 4, (n_inputs, n))
    values = np.where(kind == 0, extremes, np.where(kind == 1, few, full))
    # A quarter of the vectors take one kind throughout (all duplicates, all extremes, ...).
    whole = rng.random(n_inputs) < 0.25
    values[whole] = np.where(rng.random((int(whole.sum()), 1)) < 0.5, extremes[whole], few[whole])
    return values.astype(np.int32)


def _sort_inputs(task: SortTask, n_random: int, seed: int) -> list[isa.Inputs]:
    rng = np.random.default_rng(seed)
    base = task.inputs.memory.view(np.int32)
    if not task.variable:
        values = np.concatenate([base, random_sort_values(n_random, task.n, rng)])
        regs = rng.integers(0, 2**64 - 1, (len(values), 16), dtype=np.uint64, endpoint=True)
        return [isa.Inputs(regs, values.view(np.uint8).reshape(len(values), -1))]
    counts = np.concatenate([base[:, 0], rng.integers(1, task.n + 1, n_random)])
    values = np.concatenate([base[:, 1:], random_sort_values(n_random, task.n, rng)])
    groups = []
    for m in range(1, task.n + 1):
        rows = np.flatnonzero(counts == m)
        data = np.concatenate([np.full((len(rows), 1), m, np.int32), values[rows, :m]], axis=1)
        regs = rng.integers(0, 2**64 - 1, (len(rows), 16), dtype=np.uint64, endpoint=True)
        groups.append(isa.Inputs(regs, data.view(np.uint8).reshape(len(rows), -1)))
    return groups


def _run(program, inputs, backend):
    # Unicorn runs first and checks every access and flag; native then runs the real code at
    # full speed on the same inputs (single-stepping 100,000 inputs would take minutes).
    options = {"single_step": False} if backend == "native" else {}
    return isa.execute(program, inputs, backend, **options)


def _verify_sort(program, task: SortTask, n_random: int, seed: int) -> Verification:
    groups = _sort_inputs(task, n_random, seed)
    passed, failure = {}, None
    outputs = {}
    for backend in BACKENDS:
        if backend == "native" and not passed["unicorn"]:
            passed["native"] = False  # not run: its inputs were not checked
            break
        passed[backend] = True
        outputs[backend] = []
        for inputs in groups:
            run = _run(program, inputs, backend)
            _, _, reason = task.judge(run, inputs)
            outputs[backend].append(run.memory)
            if reason is not None:
                passed[backend] = False
                failure = failure or f"{backend}: {reason}"
                break
    if all(passed.values()):
        for k, (a, b) in enumerate(zip(outputs["unicorn"], outputs["native"])):
            if not np.array_equal(a, b):
                i = int(np.flatnonzero((a != b).any(axis=1))[0])
                failure = f"unicorn and native differ on input {i} of group {k}"
                passed = {b: False for b in BACKENDS}
                break
    total = sum(len(g) for g in groups)
    return Verification(passed["unicorn"], passed["native"], total, n_random, now(), failure)


def _random_strings(n_random: int, seed: int) -> list[isa.Inputs]:
    """Random strings of every length 9..16 (one `Inputs` per length, region exactly that long)."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(9, 17, n_random)
    groups = []
    for length in range(9, 17):
        rows = int((lengths == length).sum())
        regs = rng.integers(0, 2**64 - 1, (rows, 16), dtype=np.uint64, endpoint=True)
        regs[:, 6] = length
        groups.append(isa.Inputs(regs, rng.integers(0, 256, (rows, length), dtype=np.uint8)))
    return groups


def _verify_hash(program, task: HashTask, n_random: int, seed: int) -> Verification:
    groups = _random_strings(n_random, seed)
    passed, failure, results = {}, None, {}
    for backend in BACKENDS:
        if backend == "native" and not passed["unicorn"]:
            passed["native"] = False  # not run: its inputs were not checked
            break
        score = task.score(program, backend, cycles=False)
        passed[backend] = score.correct
        if not score.correct:
            failure = failure or f"{backend}: {score.reason}"
            continue
        results[backend] = []
        for inputs in groups:
            run = _run(program, inputs, backend)
            bad = next((f for f in run.fault if f), None)
            if bad:
                passed[backend] = False
                failure = failure or f"{backend}: random string of length {inputs.data_size}: {bad}"
                break
            results[backend].append(run.registers[:, 0])
    if all(passed.values()) and any(not np.array_equal(a, b) for a, b in zip(results["unicorn"], results["native"])):
        failure, passed = "unicorn and native give different hashes on random strings", {b: False for b in BACKENDS}
    return Verification(passed["unicorn"], passed["native"], len(task.inputs) + n_random, n_random, now(), failure)


def verify(program: isa.Program, game: str, *, n_random: int = 100_000, seed: int = 0) -> Verification:
    """Verifies `program` for `game` on Unicorn and natively.

    Args:
      program: the `isa.Program`.
      game: a name from `games.names()`.
      n_random: random inputs beyond the task's own.
      seed: of the random inputs.
    Returns:
      A `Verification`; `first_failure` shows the first failing input.
    """
    task = games.make(game).task
    if isinstance(task, SortTask):
        return _verify_sort(program, task, n_random, seed)
    if isinstance(task, HashTask):
        return _verify_hash(program, task, n_random, seed)
    raise ValueError(f"no verification defined for {game}")
