"""Paths and labels: what is defined on every path through a branchy program, and how a
program maps to moves and back.

A jump is played as `jCC .Lj` to label slot j whose place is not known yet; a later
`PlaceLabel(j)` puts the label at the end of the program so far, and the inputs that took the
jump resume there. Registers and flags count as defined after a label only if they are on every
path that reaches it: the fall-through (if reachable) and every jump to the label.
"""
from __future__ import annotations

from typing import Sequence

import jax.numpy as jnp
import numpy as np

import isa
from isa import jax_machine as jm

from games import actions as A

__all__ = ["advance", "program_of", "moves_for"]


def advance(table: A.ActionTable, s, action, token):
    """The bookkeeping after `action`: a dict of the `State` fields reg_defined, flags_defined,
    reachable, label_open, label_placed, label_regs, label_flags (pure JAX)."""
    kind, label = jnp.asarray(table.kind)[action], jnp.asarray(table.label)[action]
    plays = kind != A.LABEL
    writes = jnp.asarray(table.writes)[action]
    fset = (token[jm.F_FSET] >> jnp.arange(4)) & 1 == 1
    fundef = (token[jm.F_FUNDEF] >> jnp.arange(4)) & 1 == 1
    regs = jnp.where(plays, s.reg_defined | writes, s.reg_defined)
    flags = jnp.where(plays, (s.flags_defined | fset) & ~fundef, s.flags_defined)
    is_jump, is_label = kind == A.JUMP, kind == A.LABEL
    k = jnp.arange(s.label_open.shape[0]) == label
    slot = jnp.maximum(label, 0)
    # A jump records what is defined for its label (joined with earlier jumps to it) ...
    was_open = s.label_open[slot]
    join_r = jnp.where(was_open, s.label_regs[slot] & regs, regs)
    join_f = jnp.where(was_open, s.label_flags[slot] & flags, flags)
    label_regs = jnp.where((k & is_jump)[:, None], join_r[None], s.label_regs)
    label_flags = jnp.where((k & is_jump)[:, None], join_f[None], s.label_flags)
    # ... and placing the label joins it with the fall-through, if that is reachable.
    at_r, at_f = s.label_regs[slot], s.label_flags[slot]
    regs = jnp.where(is_label, jnp.where(s.reachable, regs & at_r, at_r), regs)
    flags = jnp.where(is_label, jnp.where(s.reachable, flags & at_f, at_f), flags)
    return dict(
        reg_defined=regs, flags_defined=flags,
        reachable=jnp.where(is_label, True, s.reachable & ~jnp.asarray(table.unconditional)[action]),
        label_open=jnp.where(k & is_jump, True, jnp.where(k & is_label, False, s.label_open)),
        label_placed=s.label_placed | (k & is_label), label_regs=label_regs, label_flags=label_flags)


def program_of(vocabulary: Sequence, moves: np.ndarray) -> isa.Program:
    """The program `moves` build; labels still open stand at the end."""
    items, places = [], {}
    for a in moves:
        item = vocabulary[int(a)]
        if isinstance(item, A.PlaceLabel):
            places[item.label] = len(items)
        else:
            items.append(item)
    end = len(items)
    return isa.Program(tuple(isa.Instruction(i.mnemonic, (isa.Target(places.get(i.label, end)),))
                             if isinstance(i, A.Jump) else i for i in items))


def moves_for(vocabulary: Sequence, program: isa.Program, name: str) -> list[int]:
    """The moves that build `program` (label slots in order of first use).

    Raises:
      ValueError: naming the first instruction outside the vocabulary.
    """
    index = {item: k for k, item in enumerate(vocabulary)}
    labels: dict[int, int] = {}  # target position -> label slot
    moves = []
    for pos in range(len(program) + 1):
        moves += [index[A.PlaceLabel(slot)] for target, slot in labels.items() if target == pos]
        if pos == len(program):
            break
        ins = program[pos]
        if ins.target is not None:
            labels.setdefault(ins.target, len(labels))
            item = A.Jump(ins.mnemonic, labels[ins.target])
        else:
            item = ins
        if item not in index:
            raise ValueError(f"instruction {pos} ({A.describe(item)}) is not in {name}'s vocabulary")
        moves.append(index[item])
    return moves
