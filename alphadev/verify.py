"""Verification of a program on Unicorn and natively, beyond the search-time inputs.

For any task: its score on its own inputs (`Task.score`) on both backends, then `n_random` of
its verification inputs (`Task.random_inputs`), each of which must pass `Task.check` on both
backends and give the same memory (and result register) on both. Unicorn runs first and
checks every access and flag; native then runs the real code at full speed on the same inputs
(single-stepping 100,000 inputs would take minutes). A program passes only when both backends
pass and agree with each other.
"""
from __future__ import annotations

import dataclasses
from typing import Optional

import numpy as np

import games
import isa
from alphadev.results import now

__all__ = ["Verification", "verify"]

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


def _outputs(task: games.Task, run: isa.Execution) -> np.ndarray:
    """[I, ...] what a backend must agree on: the data region, and the result register."""
    memory = run.memory.reshape(len(run.memory), -1)
    if task.signature.result is None:
        return memory
    result = run.registers[:, isa.Reg(task.signature.result).number]
    if task.signature.result == "eax":
        result = result & np.uint64(0xFFFFFFFF)
    return np.concatenate([memory.view(np.uint8), result[:, None].view(np.uint8)], axis=1)


def _backend(program, task, groups, backend) -> tuple[Optional[str], list]:
    """(the first failure on `backend` or None, the outputs of each group)."""
    score = task.score(program, backend, cycles=False)
    if not score.correct:
        return f"{backend}: {score.reason}", []
    options = {"single_step": False} if backend == "native" else {}
    outputs = []
    for k, inputs in enumerate(groups):
        run = isa.execute(program, inputs, backend, **options)
        reason = task.check(run, inputs)
        if reason is not None:
            return f"{backend}: random input group {k}: {reason}", []
        outputs.append(_outputs(task, run))
    return None, outputs


def verify(program: isa.Program, game: str, *, n_random: int = 100_000, seed: int = 0) -> Verification:
    """Verifies `program` for `game` on Unicorn and natively.

    Args:
      program: the `isa.Program`.
      game: a registered task's name (`games.names()`).
      n_random: random inputs beyond the task's own.
      seed: of the random inputs.
    Returns:
      A `Verification`; `first_failure` shows the first failing input.
    """
    task = games.task(game)
    groups = task.random_inputs(n_random, seed)
    total = len(task.inputs) + sum(len(g) for g in groups)
    failure, unicorn = _backend(program, task, groups, "unicorn")
    if failure:  # native is not run: its inputs were not checked
        return Verification(False, False, total, n_random, now(), failure)
    failure, native = _backend(program, task, groups, "native")
    if failure:
        return Verification(True, False, total, n_random, now(), failure)
    for k, (a, b) in enumerate(zip(unicorn, native)):
        if not np.array_equal(a, b):
            i = int(np.flatnonzero((a != b).any(axis=1))[0])
            return Verification(False, False, total, n_random, now(),
                                f"unicorn and native differ on input {i} of random group {k}")
    return Verification(True, True, total, n_random, now(), None)
