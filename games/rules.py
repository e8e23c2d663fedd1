"""Legality: one small pure function per rule, `(game, state) -> [A] bool` (True: allowed).

`legal_action_mask` ands the switched-on `Rules` (games/config.py) with the rules that always
hold: conditionals read defined flags only (else the program is ill-formed), the length limit,
nothing after an unconditional jump but a label, and the label discipline. `check` runs when a
game is built: a rule whose preconditions do not hold is a one-line error.
"""
from __future__ import annotations

import dataclasses

import jax.numpy as jnp

from games import actions as A
from isa import jax_machine as jm

__all__ = ["check", "legal_action_mask", "SWITCHED", "ALWAYS", "NEEDS_RULES", "NEEDS_TASK"]


def read_once(game, s):
    load = jnp.asarray(game.table.load_slot)
    return ~((load >= 0) & s.loaded[jnp.maximum(load, 0)])


def write_once(game, s):
    store = jnp.asarray(game.table.store_slot)
    return ~((store >= 0) & s.stored[jnp.maximum(store, 0)])


def defined_registers(game, s):
    return ~jnp.any(jnp.asarray(game.table.reads) & ~s.reg_defined, axis=1)


def ordered_registers(game, s):
    rank = jnp.asarray(game.alloc_rank)
    next_rank = jnp.min(jnp.where(s.reg_defined, 99, rank))
    fresh = jnp.asarray(game.table.writes) & ~s.reg_defined
    return ~jnp.any(fresh & (rank != next_rank), axis=1)


def no_double_compare(game, s):
    return ~(jnp.asarray(game.table.compares) & s.last_compare)


def no_memory_operands(game, s):
    del s
    return ~jnp.asarray(game.table.other_memory)


def loads_first(game, s):
    return ~((jnp.asarray(game.table.load_slot) >= 0) & s.stored.any())


def stores_last(game, s):
    t = game.table
    return ~((jnp.asarray(t.kind) == A.INSTRUCTION) & (jnp.asarray(t.store_slot) < 0) & s.stored.any())


def loads_in_order(game, s):
    """Every load first, lowest slot first, into a fresh register. A program that loads
    everything before it computes can rename its registers so that slot k lands in the k-th
    register, so this loses no program of that shape (the sorting networks and AlphaDev's sort3
    are); it removes the orders of the loads and the prefixes that compute before loading all."""
    t = game.table
    pending = ~s.loaded
    into_fresh = jnp.any(jnp.asarray(t.writes) & ~s.reg_defined, axis=1)
    return ~pending.any() | ((jnp.asarray(t.load_slot) == jnp.argmax(pending)) & into_fresh)


def room_for_stores(game, s):
    """Once the instructions left are only enough for the stores the output still needs, only
    stores: a prefix that cannot fit them is a dead end that shaping would still pay for."""
    t = game.table
    plays = jnp.asarray(t.kind) != A.LABEL
    left = game.config.max_length - s.length
    needed = game.task.stores_needed(s.machine, s.loaded, s.stored)
    return ~plays | (jnp.asarray(t.store_slot) >= 0) | (left > needed)


def defined_flags(game, s):
    tokens = jnp.asarray(game.table.tokens)
    reads = ((tokens[:, jm.F_FREAD][:, None] >> jnp.arange(4)) & 1) == 1
    return ~jnp.any(reads & ~s.flags_defined, axis=1)


def within_length(game, s):
    plays = jnp.asarray(game.table.kind) != A.LABEL
    return ~plays | (s.length < game.config.max_length)


def reachable(game, s):
    """After `jmp` only a label can come."""
    return (jnp.asarray(game.table.kind) == A.LABEL) | s.reachable


def labels(game, s):
    """Label slots are used in order; a jump goes to a label not placed yet; a label is placed
    only while a jump to it is open, and never right after that jump."""
    if not game.num_labels:
        return jnp.ones(game.num_actions, bool)
    t = game.table
    kind, label = jnp.asarray(t.kind), jnp.asarray(t.label)
    lab = jnp.maximum(label, 0)
    last = jnp.maximum(s.moves[jnp.maximum(s.n_moves - 1, 0)], 0)
    empty = (s.n_moves > 0) & (kind[last] == A.JUMP) & (label[last] == label)
    first_unused = jnp.argmin(s.label_open | s.label_placed)
    fresh_ok = ~(s.label_open | s.label_placed).all() & (lab == first_unused)
    jump_ok = ~(kind == A.JUMP) | (~s.label_placed[lab] & (s.label_open[lab] | fresh_ok))
    return jump_ok & (~(kind == A.LABEL) | (s.label_open[lab] & ~empty))


SWITCHED = {
    "read_once": read_once, "write_once": write_once, "defined_registers": defined_registers,
    "ordered_registers": ordered_registers, "no_double_compare": no_double_compare,
    "no_memory_operands": no_memory_operands, "loads_first": loads_first, "stores_last": stores_last,
    "loads_in_order": loads_in_order, "room_for_stores": room_for_stores,
}
ALWAYS = (defined_flags, within_length, reachable, labels)
# Rules that are only sound, or only mean something, when others hold.
NEEDS_RULES = {
    "end_lost": ("read_once", "loads_first", "no_memory_operands"),  # else a lost value can come back
    "end_stored_wrong": ("write_once",),                            # else a wrong slot can be mended
}
# Rules that need an optional capability of the task.
NEEDS_TASK = {"room_for_stores": "stores_needed", "end_lost": "lost", "end_stored_wrong": "stored_wrong"}


def check(rules, task) -> None:
    """Raises a one-line ValueError for a rule switched on without what it needs."""
    on = {f.name for f in dataclasses.fields(rules) if getattr(rules, f.name)}
    for rule, needed in NEEDS_RULES.items():
        missing = [r for r in needed if r not in on]
        if rule in on and missing:
            raise ValueError(f"rule {rule} needs {', '.join(missing)} on too")
    for rule, capability in NEEDS_TASK.items():
        if rule in on and getattr(task, capability) is None:
            raise ValueError(f"rule {rule}: {task.name} defines no {capability}; switch the rule off")
    if "loads_in_order" in on and task.slot_limits is not None:
        # An input may not read past its count, so such a task must branch on it before loading.
        raise ValueError(f"rule loads_in_order: {task.name} must branch before it loads (fixed sizes only)")


def legal_action_mask(game, s):
    """[A] bool: the moves legal in state `s`, before the terminal check."""
    ok = jnp.ones(game.num_actions, bool)
    for name, rule in SWITCHED.items():
        if getattr(game.config.rules, name):
            ok &= rule(game, s)
    for rule in ALWAYS:
        ok &= rule(game, s)
    return ok
