"""The sorts' optional components: shaping potentials and dead-end checks, pure JAX.

Each takes the sort task, the machine state of every input ([I]) and the slots loaded and stored
so far ([S] bool); the sort classes bind them as `Task.potentials`, `lost`, `stored_wrong` and
`stores_needed`.
"""
from __future__ import annotations

import itertools

import jax.numpy as jnp
import numpy as np

import isa
from isa import jax_machine as jm

__all__ = ["registers", "information", "lost", "stored_wrong", "stores_needed"]


def _values(task, machine):
    """([I, R] register values, [I, N] sorted values wanted, [I, N] value slots) as int32."""
    regs = machine.regs[:, jnp.asarray([isa.Reg(r).number for r in task.registers]), 0].astype(jnp.int32)
    memory = jm.dwords(machine.memory, task.first, task.n).astype(jnp.int32)
    return regs, jnp.asarray(task.targets[:, task.first:]), memory


def _value_weights(task):
    return jnp.asarray(task.item_weights[:, task.first:])


def registers(task, machine, loaded, stored):
    """[] in [0, 1]: the output computed in registers but not yet stored.

    For the best assignment of distinct registers to the value slots not stored yet, the inputs
    for which each register holds its slot's expected value, beyond those for which the slot
    already holds it untouched. A stored slot counts nothing here: the items reward has paid
    for it, so storing the assigned register moves its part from the potential into the items
    and a store earns nothing by itself. Only computing earns, and a search that sees no
    further than the next move is not lured into storing early.
    """
    del loaded
    first, n = task.first, task.n
    regs, want, memory = _values(task, machine)
    w = _value_weights(task)
    in_reg = ((regs[:, :, None] == want[:, None, :]) * w[:, None, :]).sum(0)  # [R, N]
    in_mem = ((memory == want) * w).sum(0)                                  # [N]
    gain = jnp.maximum(in_reg - in_mem, 0.0) * ~stored[first:first + n]     # [R, N]
    perms = jnp.asarray(_assignments(len(task.registers), n))              # [P, N] register per slot
    matched = gain[perms, jnp.arange(n)].sum(1)
    return (matched.max() / jnp.sum(w)).astype(jnp.float32)


def _assignments(n_registers: int, n: int) -> np.ndarray:
    return np.array(list(itertools.permutations(range(n_registers), n)), np.int32)


def information(task, machine, loaded, stored, *, flags: bool = False):
    """[] in [0, 1]: how much of the input's order the program has resolved (fixed sorts).

    Over the inputs whose values are all distinct (P of them), take the N places that now hold
    the values: the slots not loaded or already stored, plus a choice of registers, such that
    every input has each of its values in exactly one of them. A compare-and-move program cannot
    tell apart two inputs whose values lie in those places in the same order; a sort must bring
    all P to one order. With D the fewest distinct orders over such choices, the information is
    log(P / D) / log(P): 0 for the input as given, 1 when sorted. A compare-swap gains up to
    1 / log2(P) at once, where the register potential credits it only in part.

    With `flags`, the defined flags count too: a cmov can still act on them, so inputs that the
    flags tell apart need not share an order yet, and D is the most orders within any one flag
    pattern (the worst case, which a conjunctive compare cannot inflate). A compare-swap then
    gains at its cmp rather than after its last cmov.
    """
    n = task.n
    values = task.inputs.memory.view(np.int32)
    rows = np.nonzero([len(set(v)) == n for v in values])[0]
    if len(rows) < 2:
        return jnp.float32(0)
    regs, _, memory = _values(task, machine)
    places = jnp.concatenate([regs, memory], axis=1)[rows]                # [P, L]: registers, then slots
    n_regs = regs.shape[1]
    forced = ~loaded[:n] | stored[:n]                                     # slots that must be chosen
    subsets = np.array(list(itertools.product([False, True], repeat=n_regs)))  # [S, R]
    chosen = jnp.concatenate([jnp.asarray(subsets), jnp.broadcast_to(forced, (len(subsets), n))], axis=1)
    onehot = (places[:, :, None] == jnp.arange(1, n + 1)).astype(jnp.float32)        # [P, L, N]
    counts = jnp.einsum("sl,pln->spn", chosen.astype(jnp.float32), onehot)
    sound = jnp.all(counts == 1, axis=(1, 2)) & (chosen.sum(1) == n)                 # [S]
    differ = (places.T[:, :, None] != places.T[:, None, :]).astype(jnp.float32)       # [L, P, P]
    same = jnp.einsum("sl,lpq->spq", chosen.astype(jnp.float32), differ) == 0          # [S, P, P]
    if not flags:
        orders = jnp.sum(1.0 / same.sum(2), axis=1)                                    # [S]
    else:
        pattern = (machine.flags & machine.defined)[rows]                              # [P, 4]
        alike = jnp.all(pattern[:, None, :] == pattern[None, :, :], axis=-1)            # [P, P]
        share = 1.0 / (same & alike[None]).sum(2)                                     # [S, P]
        orders = jnp.max(share @ alike.T.astype(jnp.float32), axis=1)  # orders in p's pattern, worst p
    fewest = jnp.min(jnp.where(sound, orders, len(rows)))
    return (jnp.log(len(rows) / fewest) / np.log(len(rows))).astype(jnp.float32)


def lost(task, machine, loaded, stored):
    """[] bool, a value the output still needs is gone: for some input, a slot not stored yet
    that does not already hold its sorted value needs a value that no register holds and no
    slot still loadable holds. Under read_once, loads_first and no_memory_operands (which
    games.rules.check demands) nothing can bring it back. A copy is one mov away, so how many
    slots need the value does not matter."""
    first, n = task.first, task.n
    regs, want, memory = _values(task, machine)
    needed = (_value_weights(task) > 0) & ~stored[first:first + n] & (memory != want)
    loadable = ~loaded[first:first + n] & ~stored.any()
    in_reg = jnp.any(regs[:, None, :] == want[:, :, None], axis=2)        # [I, N]
    in_mem = jnp.any((memory[:, None, :] == want[:, :, None]) & loadable[None, None, :], axis=2)
    return jnp.any(needed & ~in_reg & ~in_mem)


def stored_wrong(task, machine, loaded, stored):
    """[] bool, a slot is stored with a wrong value for some input (fixed sorts: with
    branches an input may still reach another store to it). Under write_once it stays wrong.
    Without this, storing one register into two slots scores as progress, since the register
    potential may assign that register to a second slot as well."""
    del loaded
    _, want, memory = _values(task, machine)
    return jnp.any((jnp.asarray(task.item_weights) > 0) & stored[:task.n] & (memory != want))


def stores_needed(task, machine, loaded, stored):
    """[] int32, the value slots not stored yet that do not hold their sorted value for every
    input. Memory changes only by a store to a fixed slot, each needing an instruction after
    this point (on every path), so a program with fewer instructions left cannot sort."""
    del loaded
    first, n = task.first, task.n
    _, want, memory = _values(task, machine)
    wrong = (memory != want) & (_value_weights(task) > 0)                  # [I, N]
    return jnp.sum(jnp.any(wrong, axis=0) & ~stored[first:first + n]).astype(jnp.int32)
