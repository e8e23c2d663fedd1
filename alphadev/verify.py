"""Verification of a program on Unicorn and natively, beyond the search-time inputs.

For any task: its score on its own inputs (`Task.score`) on both backends, then `n_random` of
its verification inputs (`Task.random_inputs`), each of which must pass `Task.check` on both
backends and give the same memory (and result register) on both. Unicorn runs first and
checks every access and flag; native then runs the real code at full speed on the same inputs
(single-stepping 100,000 inputs would take minutes). A program passes only when both backends
pass and agree with each other. A task with a `battery` (inputs on which quality, not just
running, is judged) then runs it on Unicorn and natively alike; a program that passes
everything else but not the battery fails as "passes the corpus, fails the battery: ..." naming
the family and the figure, and the result carries the battery's figures. The result carries a
digest of (game, canonical program, settings, outcome) that binds it to what it verified
(`results.verification_digest`).
"""
from __future__ import annotations

import dataclasses
from typing import Optional

import numpy as np

import games
import isa
from alphadev.results import MIN_RANDOM_INPUTS, now, verification_digest

__all__ = ["Verification", "verify"]

BACKENDS = ("unicorn", "native")


@dataclasses.dataclass
class Verification:
    """What `verify` found; stored as a record's `verification` (`dataclasses.asdict`).

    Attributes:
      unicorn, native: whether each backend passed (native is False when Unicorn failed).
      inputs: inputs run, the task's own and the random ones.
      random_inputs: of which random. seed: of the random inputs.
      when: ISO time. first_failure: the first failing input, or None.
      digest: `verification_digest` of the game, the program and the fields above, and of the
        battery's figures where there are some.
      battery: the task's battery verdict (`games.Verdict.to_dict`) on Unicorn, or None for a
        task without one or a program that failed before it ran.
    """
    unicorn: bool
    native: bool
    inputs: int
    random_inputs: int
    seed: int
    when: str
    first_failure: Optional[str]
    digest: str = ""
    battery: Optional[dict] = None

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


def _options(backend: str) -> dict:
    """Native runs the real code at full speed: Unicorn checked every access on the same inputs."""
    return {"single_step": False} if backend == "native" else {}


def _backend(program, task, groups, backend) -> tuple[Optional[str], list]:
    """(the first failure on `backend` or None, the outputs of each group)."""
    score = task.score(program, backend, cycles=False)
    if not score.correct:
        return f"{backend}: {score.reason}", []
    outputs = []
    for k, inputs in enumerate(groups):
        run = isa.execute(program, inputs, backend, **_options(backend))
        reason = task.check(run, inputs)
        if reason is not None:
            return f"{backend}: random input group {k}: {reason}", []
        outputs.append(_outputs(task, run))
    return None, outputs


def _battery(program, task) -> tuple[dict, Optional[str], Optional[str]]:
    """The task's battery on each backend: (Unicorn's verdict as a dict, the backend that failed
    first or None, the failure or None)."""
    verdicts = {}
    for backend in BACKENDS:
        verdict = task.battery.run(program, backend, **_options(backend))
        verdicts[backend] = verdict
        if not verdict.passed:
            return (verdicts["unicorn"].to_dict(), backend,
                    f"{backend}: passes the corpus, fails the battery: {verdict.reason}")
    if verdicts["unicorn"] != verdicts["native"]:
        return verdicts["unicorn"].to_dict(), "unicorn", "unicorn and native differ on the battery"
    return verdicts["unicorn"].to_dict(), None, None


def verify(program: isa.Program, game: str, *, n_random: int = MIN_RANDOM_INPUTS, seed: int = 0) -> Verification:
    """Verifies `program` for `game` on Unicorn and natively.

    Args:
      program: the `isa.Program`.
      game: a registered task's name (`games.names()`).
      n_random: random inputs beyond the task's own.
      seed: of the random inputs.
    Returns:
      A `Verification`; `first_failure` shows the first failing input.
    Raises:
      isa.native.NativeUnavailable: when this host cannot run the program natively.
    """
    task = games.task(game)
    # Asked for none, a task is not asked (a sort's random_inputs(0) cannot shape an empty group).
    groups = [g for g in task.random_inputs(n_random, seed) if len(g)] if n_random else []
    n_drawn = sum(len(g) for g in groups)

    def result(unicorn_ok: bool, native_ok: bool, failure: Optional[str], battery: Optional[dict] = None) -> Verification:
        found = Verification(unicorn_ok, native_ok, len(task.inputs) + n_drawn, n_drawn, seed, now(), failure,
                             battery=battery)
        found.digest = verification_digest(game, program, dataclasses.asdict(found))
        return found

    failure, unicorn = _backend(program, task, groups, "unicorn")
    if failure:  # native is not run: its inputs were not checked
        return result(False, False, failure)
    failure, native = _backend(program, task, groups, "native")
    if failure:
        return result(True, False, failure)
    for k, (a, b) in enumerate(zip(unicorn, native)):
        if not np.array_equal(a, b):
            i = int(np.flatnonzero((a != b).any(axis=1))[0])
            return result(False, False, f"unicorn and native differ on input {i} of random group {k}")
    if task.battery is None:
        return result(True, True, None)
    battery, failed, failure = _battery(program, task)
    if failed == "unicorn":  # as above: native is not trusted past a Unicorn failure or a disagreement
        return result(False, False, failure, battery)
    return result(True, failed is None, failure, battery)
