"""A task: test inputs, what a correct output is, the instruction vocabulary, and scoring.

A `Task` judges any program of the isa subset on any backend (`score`); the `Game` built on it
(games/game.py) turns the same judgement into per-move rewards inside JAX.
"""
from __future__ import annotations

import dataclasses
from typing import Optional, Sequence

import jax.numpy as jnp
import numpy as np

import isa


@dataclasses.dataclass(frozen=True)
class Score:
    """How a whole program fares on a task's inputs.

    Attributes:
      correct: every input gives a correct output (for hash: quality within tolerance).
      n_correct: inputs whose output is entirely correct.
      n_inputs: inputs judged.
      items: weighted fraction of correct output items, in [0, 1] (what the game rewards).
      length: instructions in the program.
      executed: mean instructions executed per input.
      cycles: llvm-mca's cycles for one call, or None when not asked for.
      reason: why the program is not correct, else None.
    """
    correct: bool
    n_correct: int
    n_inputs: int
    items: float
    length: int
    executed: float
    cycles: Optional[int]
    reason: Optional[str]


@dataclasses.dataclass(frozen=True)
class Slot:
    """A 32-bit memory slot the vocabulary loads from or stores to: `dword ptr [rdi + 4*index]`."""
    index: int

    @property
    def mem(self) -> isa.Mem:
        return isa.Mem(32, "rdi", disp=4 * self.index)


class Task:
    """Base of every task. Subclasses set the attributes and `judge`.

    Attributes:
      name: registry name (`sort3`, ...).
      inputs: search-time test inputs, `isa.Inputs` with I states.
      vocabulary: the instructions (and label moves) the game may play, see games/actions.py.
      mcpu: CPU model for llvm-mca.
    """
    name: str
    inputs: isa.Inputs
    vocabulary: Sequence
    registers: Sequence[str] = ()      # allocation order of the registers the vocabulary writes
    entry_registers: Sequence[str] = ("rdi",)  # defined at entry (arguments)
    slots: dict = {}                   # slot_key(mem) -> slot number of plain loads and stores
    slot_limits: Optional[np.ndarray] = None  # [I] first slot an input may not touch (varsort)
    mcpu: str = "skylake"
    has_information: bool = False      # defines jax_information (games.Config.shaping_information)

    def jax_judge(self, machine, outside):
        """Pure JAX: ([I] machine, [I] touched a forbidden slot) -> ([] items in [0, 1], [] correct)."""
        raise NotImplementedError

    def jax_potential(self, machine, stored):
        """Pure JAX: ([I] machine, [slots] stored) -> [] progress for reward shaping, in units of
        the items fraction (games.Config.shaping_weight); 0 once the output is all stored."""
        raise NotImplementedError(f"{self.name} defines no shaping potential")

    def jax_information(self, machine, loaded, stored, *, flags: bool = False):
        """Pure JAX: ([I] machine, [slots] loaded, [slots] stored) -> [] in [0, 1], a second
        shaping term (games.Config.shaping_information); `flags`: count the defined flags
        (games.Config.information_flags)."""
        raise NotImplementedError(f"{self.name} defines no information potential")

    def jax_lost(self, machine, loaded, stored):
        """Pure JAX: ([I] machine, [slots] loaded, [slots] stored) -> [] bool, the output can no
        longer be made correct whatever follows (games.Rules.end_lost). Never, by default."""
        del machine, loaded, stored
        return jnp.bool_(False)

    def jax_stored_wrong(self, machine, stored):
        """Pure JAX: ([I] machine, [slots] stored) -> [] bool, a stored output slot is wrong for
        good (games.Rules.end_stored_wrong). Never, by default."""
        del machine, stored
        return jnp.bool_(False)

    def jax_stores_needed(self, machine, stored):
        """Pure JAX: ([I] machine, [slots] stored) -> [] int32, how many slots not stored yet
        still need a store (games.Rules.room_for_stores). None, by default."""
        del machine, stored
        return jnp.int32(0)

    def judge(self, run: isa.Execution, inputs: isa.Inputs) -> tuple[np.ndarray, np.ndarray, Optional[str]]:
        """Returns ([I, K] bool item correctness, [K] or [I, K] item weights, a reason when wrong)."""
        raise NotImplementedError

    def executions(self, program: isa.Program, backend: str) -> list[tuple[isa.Execution, isa.Inputs]]:
        """Runs the program on the inputs; tasks whose inputs differ in data size split them."""
        return [(isa.execute(program, self.inputs, backend), self.inputs)]

    def score(self, program: isa.Program, backend: str = "unicorn", *, cycles: bool = True) -> Score:
        """Judges a whole program (inside or outside the vocabulary) on `backend`.

        Args:
          program: any `isa.Program`.
          backend: "unicorn" (the reference), "jax" or "native".
          cycles: also ask llvm-mca for the cycle estimate.
        Returns:
          The `Score`; an incorrect program has a `reason`.
        """
        if not isinstance(program, isa.Program):
            raise TypeError(f"score takes an isa.Program, got {type(program).__name__}")
        n_correct, n_inputs, weighted, total, executed = 0, 0, 0.0, 0.0, []
        reason = None
        for run, inputs in self.executions(program, backend):
            good, weights, why = self.judge(run, inputs)
            weights = np.broadcast_to(weights, good.shape)
            n_correct += int(np.sum(good.all(axis=1) | (weights == 0).all(axis=1)))
            n_inputs += good.shape[0]
            weighted += float(np.sum(good * weights))
            total += float(np.sum(weights))
            executed.append(run.executed)
            reason = reason or why
        correct = reason is None
        return Score(correct=correct, n_correct=n_correct, n_inputs=n_inputs,
                     items=weighted / total if total else 0.0, length=len(program),
                     executed=float(np.mean(np.concatenate(executed))),
                     cycles=isa.latency.cycles(program, self.mcpu) if cycles and len(program) else (0 if cycles else None),
                     reason=reason)


def first_fault(run: isa.Execution) -> Optional[str]:
    for k, f in enumerate(run.fault):
        if f is not None:
            return f"input {k}: {f}"
    return None
