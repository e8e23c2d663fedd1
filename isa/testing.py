"""Random programs and machine states over the whole subset, for differential testing.

One generator serves the hypothesis tests (which shrink a failure to a small program) and the
long soak in `experiments/soak_backends.py` (a numpy random stream): both hand it a `Chooser`.
Values are biased towards the edges that break emulators: zero, one, all ones, the sign bits,
the 32-bit boundary, shift counts of 0, 1, 31, 32 and 63, and addresses at the ends of the data
region (one byte either side included).
"""
from __future__ import annotations

from typing import Protocol, Sequence

import numpy as np

from isa.model import (ALU, CONDITIONS, REGISTERS_32, REGISTERS_64, SHIFTS, Imm, Instruction, Mem,
                       Program, Reg, Target)
from isa.types import Inputs

__all__ = ["EDGE_VALUES", "USABLE_64", "USABLE_32", "Chooser", "NumpyChooser", "random_instruction",
           "random_program", "random_inputs", "disagreements"]

EDGE_VALUES = (0, 1, 2, 0x7F, 0x80, 0xFF, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, 0x100000000,
               0x7FFFFFFFFFFFFFFF, 0x8000000000000000, 0xFFFFFFFFFFFFFFFF, 0xFFFFFFFF80000000)
USABLE_64 = tuple(r for r in REGISTERS_64 if r != "rsp")
USABLE_32 = tuple(r for r in REGISTERS_32 if r != "esp")


class Chooser(Protocol):
    def pick(self, options: Sequence): ...
    def integer(self, lo: int, hi: int) -> int: ...  # inclusive


class NumpyChooser:
    def __init__(self, rng: np.random.Generator):
        self.rng = rng

    def pick(self, options):
        return options[int(self.rng.integers(len(options)))]

    def integer(self, lo, hi):
        span = hi - lo + 1  # may exceed int64: draw 64 random bits at a time
        value = int.from_bytes(self.rng.bytes(16), "little") % span if span > 2**62 else int(self.rng.integers(span))
        return lo + value


def _imm(c: Chooser, bits: int, kind: str) -> int:
    if kind == "shift":
        return c.pick((0, 1, 2, 31, 32, 33, 63, 64, c.integer(0, 255)))
    if kind == "imm64":
        return c.pick((c.pick(EDGE_VALUES), c.integer(0, 2**64 - 1)))
    return c.pick((0, 1, -1, 2, 127, -128, 128, 2**31 - 1, -2**31, c.integer(-2**31, 2**31 - 1)))


def _mem(c: Chooser, bits: int, data_size: int) -> Mem:
    size = max(bits // 8, 1)
    if c.integer(0, 9):  # mostly a valid slot, so that programs run on past their first access
        return Mem(bits, "rdi", c.pick((None, None, None, "rsi")), 1, c.integer(0, data_size - size))
    base = c.pick(("rdi", "rsi", c.pick(USABLE_64)))
    index = c.pick((None, "rsi", c.pick(USABLE_64)))
    disp = c.pick((data_size - size + 1, -1, data_size, c.integer(-8, data_size + 8)))
    return Mem(bits, base, index, c.pick((1, 2, 4, 8)), disp)


def random_instruction(c: Chooser, position: int, length: int, data_size: int) -> Instruction:
    mnemonic = c.pick(("mov", "mov", "movabs", *ALU, *ALU, *("cmov" + x for x in CONDITIONS),
                       "not", "neg", *SHIFTS, "imul", "imul", "mul", "lea",
                       *("j" + x for x in CONDITIONS), "jmp"))
    if mnemonic.startswith("j"):
        return Instruction(mnemonic, (Target(c.integer(position + 1, length)),))
    from isa.model import FORMS
    form = c.pick(FORMS[mnemonic])
    bits = 64 if mnemonic == "movabs" else c.pick((32, 64))
    names = USABLE_64 if bits == 64 else USABLE_32
    ops = []
    for kind in form.split(","):
        if kind == "r":
            ops.append(Reg(c.pick(names)))
        elif kind == "m":
            ops.append(_mem(c, 0 if mnemonic == "lea" else bits, data_size))
        else:
            which = "shift" if mnemonic in SHIFTS else "imm64" if mnemonic == "movabs" else "imm32"
            ops.append(Imm(_imm(c, bits, which)))
    return Instruction(mnemonic, tuple(ops))


def random_program(c: Chooser, *, max_length: int = 12, data_size: int = 16) -> Program:
    """A random program; it usually opens with a compare, so that conditionals often run."""
    length = c.integer(1, max_length)
    body = [random_instruction(c, i, length, data_size) for i in range(length)]
    if c.integer(0, 3):
        regs = USABLE_64 if c.integer(0, 1) else USABLE_32
        body[0] = Instruction("cmp", (Reg(c.pick(regs)), Reg(c.pick(regs))))
    return Program(tuple(body))


def random_inputs(rng: np.random.Generator, n: int, data_size: int) -> Inputs:
    """Registers mixing edge values, small offsets (valid indices into the data) and noise."""
    regs = rng.integers(0, 2**64 - 1, (n, 16), dtype=np.uint64, endpoint=True)
    kind = rng.integers(0, 3, (n, 16))
    edges = np.array(EDGE_VALUES, np.uint64)[rng.integers(0, len(EDGE_VALUES), (n, 16))]
    small = rng.integers(0, data_size + 2, (n, 16)).astype(np.uint64)
    regs = np.where(kind == 0, edges, np.where(kind == 1, small, regs))
    memory = rng.integers(0, 256, (n, data_size), dtype=np.uint8)
    return Inputs(regs, memory)


def disagreements(a, b, names=("a", "b")) -> list[str]:
    """What two `Execution`s disagree on: fault kinds, and for inputs both finished, every
    register, data byte, flag defined on both sides, flag definedness and instruction count."""
    problems = []
    for k, (fa, fb) in enumerate(zip(a.fault, b.fault)):
        kind = lambda f: None if f is None else f.split(" at instruction")[0].split(" (SIG")[0]
        if kind(fa) != kind(fb):
            problems.append(f"input {k}: fault {names[0]}={fa!r} {names[1]}={fb!r}")
            continue
        if fa is not None:
            continue
        for r in np.flatnonzero(a.registers[k] != b.registers[k]):
            problems.append(f"input {k}: {REGISTERS_64[r]} {names[0]}={int(a.registers[k, r]):#x} "
                            f"{names[1]}={int(b.registers[k, r]):#x}")
        for j in np.flatnonzero(a.memory[k] != b.memory[k]):
            problems.append(f"input {k}: data byte {j} {names[0]}={a.memory[k, j]} {names[1]}={b.memory[k, j]}")
        if not np.array_equal(a.flags_defined[k], b.flags_defined[k]):
            problems.append(f"input {k}: flags defined {a.flags_defined[k]} vs {b.flags_defined[k]}")
        both = a.flags_defined[k] & b.flags_defined[k]
        for f in np.flatnonzero(both & (a.flags[k] != b.flags[k])):
            problems.append(f"input {k}: {'CZSO'[f]}F {names[0]}={a.flags[k, f]} {names[1]}={b.flags[k, f]}")
        if a.executed[k] != b.executed[k]:
            problems.append(f"input {k}: executed {a.executed[k]} vs {b.executed[k]}")
    return problems
