"""The machine every backend models, as data: `Inputs`, `Execution` and the address layout.

The data region (`Inputs.memory`, M bytes) lives at `DATA_BASE` and `rdi` points at it; `rsp`
is the caller's (`STACK_TOP`) and never named by a kernel body. An access outside
[DATA_BASE, DATA_BASE + M) faults, even one byte over. Flags start undefined.

A leaf module: it imports only `isa.model` and numpy, so the backends and the dispatcher
(`isa.machine`) can all import it without an import cycle.
"""
from __future__ import annotations

import dataclasses
from typing import Optional

import numpy as np

from isa.model import RDI, RSP

__all__ = ["DATA_BASE", "STACK_TOP", "MAX_DATA", "BACKENDS", "BAD_MEMORY", "UNDEFINED_FLAG",
           "STEP_LIMIT", "Inputs", "Execution"]

DATA_BASE = 0x10000000  # the same address natively, on Unicorn and in JAX: rdi compares exactly
STACK_TOP = 0x7FF08000
MAX_DATA = 0x10000
BACKENDS = ("jax", "unicorn", "native")

# Fault kinds; a backend's reason starts with one of these (see `isa.syntax.fault_reason`).
BAD_MEMORY = "bad memory access"
UNDEFINED_FLAG = "ill-formed: reads an undefined flag"
STEP_LIMIT = "step limit reached"


@dataclasses.dataclass(frozen=True)
class Inputs:
    """A batch of I machine states.

    Attributes:
      registers: [I, 16] uint64 in encoding order (rax, rcx, rdx, rbx, rsp, rbp, rsi, rdi,
        r8 ... r15). The rsp and rdi columns are ignored: they are set to `STACK_TOP` and
        `DATA_BASE` here.
      memory: [I, M] uint8, the data region the program sees at the address in rdi.
    """
    registers: np.ndarray
    memory: np.ndarray

    def __post_init__(self):
        regs = np.asarray(self.registers)
        mem = np.asarray(self.memory)
        if regs.ndim != 2 or regs.shape[1] != 16:
            raise ValueError(f"Inputs.registers must be [I, 16], got shape {regs.shape}")
        if mem.ndim != 2 or mem.shape[0] != regs.shape[0]:
            raise ValueError(f"Inputs.memory must be [I, M] with I={regs.shape[0]}, got {mem.shape}")
        if not 0 < mem.shape[1] <= MAX_DATA:
            raise ValueError(f"data region must hold 1..{MAX_DATA} bytes, got {mem.shape[1]}")
        if regs.dtype != np.uint64 and np.any(regs < 0):
            raise ValueError("Inputs.registers must be unsigned 64-bit values")
        regs = regs.astype(np.uint64).copy()
        regs[:, RSP] = STACK_TOP
        regs[:, RDI] = DATA_BASE
        object.__setattr__(self, "registers", regs)
        object.__setattr__(self, "memory", mem.astype(np.uint8))

    def __len__(self) -> int:
        return self.registers.shape[0]

    @property
    def data_size(self) -> int:
        return self.memory.shape[1]


@dataclasses.dataclass(frozen=True)
class Execution:
    """What a backend saw, per input.

    Attributes:
      registers: [I, 16] uint64 after the run.
      memory: [I, M] uint8 after the run.
      flags: [I, 4] bool, CF ZF SF OF; meaningful only where `flags_defined`.
      flags_defined: [I, 4] bool.
      executed: [I] int, instructions executed.
      fault: I entries, None or the reason the input did not finish.
    """
    registers: np.ndarray
    memory: np.ndarray
    flags: np.ndarray
    flags_defined: np.ndarray
    executed: np.ndarray
    fault: list[Optional[str]]

    @property
    def ok(self) -> np.ndarray:
        """[I] bool: inputs that ran to the end without a fault."""
        return np.array([f is None for f in self.fault])
