"""The action space: a task's vocabulary as arrays the game's JAX code can index.

Action k is vocabulary item k, one of:
  - an `isa.Instruction` (no jump): played as is;
  - `Jump(mnemonic, label)`: a forward `jCC`/`jmp` to label slot `label`, whose place is not known
    yet;
  - `PlaceLabel(label)`: puts label slot `label` at the current end of the program (it adds no
    instruction; the inputs that jumped to it resume here).
So a branchy program is built move by move: jump to a fresh label, play the skipped
instructions, place the label. Labels still open when the episode ends stand at the end.

Everything the legality rules need is precomputed per action (`ActionTable`), once per game.
"""
from __future__ import annotations

import dataclasses
from typing import Sequence, Union

import numpy as np

import isa
from isa.model import registers_used  # re-exported: games and tools read it from here
from isa import flags as fl
from isa import jax_machine as jm

# A jump's target while its label is unplaced: no position equals it, so inputs that took the
# jump skip every instruction until the label is placed (see games/game.py).
LABEL_BASE = 1 << 20


@dataclasses.dataclass(frozen=True)
class Jump:
    mnemonic: str  # jl, jge, ..., jmp
    label: int

    def __post_init__(self):
        if self.mnemonic not in [f"j{c}" for c in isa.CONDITIONS] + ["jmp"]:
            raise ValueError(f"not a jump: {self.mnemonic!r}")


@dataclasses.dataclass(frozen=True)
class PlaceLabel:
    label: int


Action = Union[isa.Instruction, Jump, PlaceLabel]
INSTRUCTION, JUMP, LABEL = 0, 1, 2



@dataclasses.dataclass(frozen=True)
class ActionTable:
    """Per-action arrays. A: number of actions, R = 16 registers, S: memory slots.

    Attributes:
      tokens: [A, F] int32 machine tokens (labels: an invalid token; jumps: target LABEL_BASE + j).
      kind: [A] INSTRUCTION, JUMP or LABEL.
      label: [A] label slot of a jump or label action, else -1.
      reads, writes: [A, 16] registers read / written.
      load_slot, store_slot: [A] slot loaded by `mov r, [slot]` / stored by `mov [slot], r`, else -1.
      other_memory: [A] an instruction that touches memory otherwise (compare with memory, ...).
      compares: [A] sets flags (cmp). conditional: [A] reads flags.
      unconditional: [A] `jmp`.
    """
    tokens: np.ndarray
    kind: np.ndarray
    label: np.ndarray
    reads: np.ndarray
    writes: np.ndarray
    load_slot: np.ndarray
    store_slot: np.ndarray
    other_memory: np.ndarray
    compares: np.ndarray
    conditional: np.ndarray
    unconditional: np.ndarray

    @property
    def size(self) -> int:
        return len(self.kind)


def slot_key(mem: isa.Mem) -> tuple:
    """A memory slot's address, whatever the access size."""
    return (mem.base, mem.index, mem.scale, mem.disp)


def build(vocabulary: Sequence[Action], slots: dict) -> ActionTable:
    """Precomputes the `ActionTable` of a vocabulary.

    Args:
      vocabulary: the task's actions.
      slots: `slot_key(mem)` -> slot number, for the memory the task's plain loads and stores use.
    """
    n = len(vocabulary)
    t = dict(tokens=np.zeros((n, jm.N_FIELDS), np.int32), kind=np.zeros(n, np.int32),
             label=np.full(n, -1, np.int32), reads=np.zeros((n, 16), bool), writes=np.zeros((n, 16), bool),
             load_slot=np.full(n, -1, np.int32), store_slot=np.full(n, -1, np.int32),
             other_memory=np.zeros(n, bool), compares=np.zeros(n, bool), conditional=np.zeros(n, bool),
             unconditional=np.zeros(n, bool))
    for a, item in enumerate(vocabulary):
        if isinstance(item, PlaceLabel):
            t["kind"][a], t["label"][a] = LABEL, item.label
            continue
        if isinstance(item, Jump):
            placeholder = isa.Instruction(item.mnemonic, (isa.Target(1),))
            t["tokens"][a] = jm.encode(placeholder)
            t["tokens"][a, jm.F_TARGET] = LABEL_BASE + item.label
            t["kind"][a], t["label"][a] = JUMP, item.label
            t["conditional"][a] = item.mnemonic != "jmp"
            t["unconditional"][a] = item.mnemonic == "jmp"
            continue
        if not isinstance(item, isa.Instruction) or item.target is not None:
            raise ValueError(f"vocabulary item {a} is not an instruction, Jump or PlaceLabel: {item!r}")
        t["tokens"][a] = jm.encode(item)
        reads, writes = registers_used(item)
        t["reads"][a, sorted(reads)] = True
        t["writes"][a, sorted(writes)] = True
        mem = item.memory
        plain = item.mnemonic == "mov" and mem is not None and slot_key(mem) in slots
        if plain and isinstance(item.operands[1], isa.Mem):
            t["load_slot"][a] = slots[slot_key(mem)]
        elif plain and isinstance(item.operands[1], isa.Reg):
            t["store_slot"][a] = slots[slot_key(mem)]
        elif mem is not None and item.mnemonic != "lea" and not (item.mnemonic == "cmp" and item.form == "m,i"):
            t["other_memory"][a] = True  # a compare of a slot with a constant (varsort's count) is exempt
        t["compares"][a] = item.mnemonic == "cmp"
        t["conditional"][a] = bool(fl.flags_read(item))
    return ActionTable(**t)


def describe(item: Action) -> str:
    if isinstance(item, PlaceLabel):
        return f".L{item.label}:"
    if isinstance(item, Jump):
        return f"{item.mnemonic} .L{item.label}"
    return isa.format_instruction(item)
