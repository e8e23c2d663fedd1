"""Which flags each instruction reads, defines and leaves undefined (Intel SDM, vol. 2).

This table is the one source of truth for flag definedness: the JAX machine carries its masks
in the instruction token, and the Unicorn and native backends replay it along the path each
input took. A conditional that reads a flag the manual calls undefined makes the program
ill-formed on that input, on every backend alike.
"""
from __future__ import annotations

from typing import Iterable, Optional

import numpy as np

from isa.model import ALU, SHIFTS, Instruction

__all__ = ["FLAGS", "CF", "ZF", "SF", "OF", "ALL", "NONE", "READS", "condition", "flags_read",
           "flags_written", "holds", "replay", "from_rflags"]

FLAGS = ("CF", "ZF", "SF", "OF")
CF, ZF, SF, OF = range(4)
ALL = frozenset(range(4))
NONE = frozenset()

READS = {"l": {SF, OF}, "le": {ZF, SF, OF}, "g": {ZF, SF, OF}, "ge": {SF, OF},
         "e": {ZF}, "ne": {ZF}, "b": {CF}, "be": {CF, ZF}, "a": {CF, ZF}, "ae": {CF}}


def condition(ins: Instruction) -> Optional[str]:
    """The condition code a `cmovCC`/`jCC` tests, else None (`jmp` tests none)."""
    m = ins.mnemonic
    if m.startswith("cmov"):
        return m[4:]
    if m.startswith("j") and m != "jmp":
        return m[1:]
    return None


def flags_read(ins: Instruction) -> frozenset:
    c = condition(ins)
    return frozenset(READS[c]) if c else NONE


def flags_written(ins: Instruction) -> tuple[frozenset, frozenset]:
    """Returns (flags given a defined value, flags left undefined); the rest are unchanged."""
    m = ins.mnemonic
    if m in ALU or m == "neg":
        return ALL, NONE   # add/sub/cmp/neg set all four; and/or/xor clear CF and OF
    if m in SHIFTS:
        count = ins.operands[-1].value & (63 if ins.bits == 64 else 31)
        if count == 0:
            return NONE, NONE  # a zero count leaves every flag alone
        written = {CF, OF} if m in ("rol", "ror") else ALL
        if count == 1:
            return frozenset(written), NONE
        return frozenset(written - {OF}), frozenset({OF})  # OF is defined for 1-bit shifts only
    if m in ("imul", "mul"):
        return frozenset({CF, OF}), frozenset({ZF, SF})
    return NONE, NONE  # mov, movabs, lea, cmov, not, jumps


def holds(cond: str, flags) -> bool:
    """Whether condition code `cond` holds for `flags` ([4] bool, CF ZF SF OF)."""
    cf, zf, sf, of = (bool(f) for f in flags)
    return {"l": sf != of, "le": zf or sf != of, "g": not zf and sf == of, "ge": sf == of, "e": zf,
            "ne": not zf, "b": cf, "be": cf or zf, "a": not cf and not zf, "ae": not cf}[cond]


def replay(program, trace: Iterable[int],
           defined: Iterable[bool] = (False,) * 4) -> tuple[list[bool], Optional[int]]:
    """Follows flag definedness along the instructions an input executed.

    Args:
      program: the `Program`.
      trace: indices of the instructions executed, in order.
      defined: [4] definedness before the first one (all undefined at entry).
    Returns:
      ([4] definedness after the trace, index of the first instruction that read an undefined
      flag or None). Replay stops at that instruction.
    """
    state = list(defined)
    for i in trace:
        ins = program[i]
        if any(not state[f] for f in flags_read(ins)):
            return state, i
        set_, undef = flags_written(ins)
        for f in set_:
            state[f] = True
        for f in undef:
            state[f] = False
    return state, None


def from_rflags(rflags: np.ndarray) -> np.ndarray:
    """[I] uint64 RFLAGS -> [I, 4] bool in `FLAGS` order (CF, ZF, SF, OF)."""
    bits = np.array([0, 6, 7, 11], dtype=np.uint64)
    return ((np.asarray(rflags, np.uint64)[:, None] >> bits) & np.uint64(1)).astype(bool)
