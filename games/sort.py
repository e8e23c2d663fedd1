"""Sorting tasks: `sortN` (fixed length) and `varsortN` (the count comes first).

`void sortN(int32_t *buf)`: `rdi` points at N int32 values, sorted ascending in place (signed).
`void varsortN(int32_t *buf)`: `buf[0]` is the count n in 1..N and `buf[1..n]` are sorted; the
slots past n are not the function's to touch: a run that does is incorrect.

Search-time inputs are tie patterns: sequences over {1..k} using every value of {1..k}, i.e.
every ordering with ties (13, 75, 541 for N = 3, 4, 5). For N >= 6 there are too many
(4683, 47293, 545835), so a fixed-seed sample of `SAMPLED_PATTERNS` distinct patterns is used:
random vectors of N draws from {1..N}, each reduced to its rank pattern.
"""
from __future__ import annotations

import itertools
from typing import Optional, Sequence

import numpy as np

import isa
from isa import jax_machine as jm
import jax.numpy as jnp

from games.actions import Jump, PlaceLabel, slot_key
from games.task import Slot, Task, first_fault

# Registers a sort may use, in allocation order (rdi holds the buffer and stays out).
SORT_REGISTERS = ("eax", "ecx", "edx", "esi", "r8d", "r9d", "r10d", "r11d", "ebx")
SAMPLED_PATTERNS = 256
JUMP_CONDITIONS = ("e", "ne", "l", "le", "g", "ge")


def tie_patterns(n: int, *, sample: int = SAMPLED_PATTERNS, seed: int = 0) -> np.ndarray:
    """[P, n] int32 orderings with ties; every one for n <= 5, a fixed sample above."""
    if n <= 5:
        rows = [v for v in itertools.product(range(1, n + 1), repeat=n) if set(v) == set(range(1, max(v) + 1))]
        return np.array(rows, np.int32)
    rng = np.random.default_rng(seed)
    seen: dict[tuple, None] = {}
    while len(seen) < sample:
        v = rng.integers(1, n + 1, n)
        ranks = np.searchsorted(np.unique(v), v) + 1
        seen[tuple(int(x) for x in ranks)] = None
    return np.array(list(seen), np.int32)


def sort_vocabulary(slots: Sequence[int], registers: Sequence[str], conditions: Sequence[str]) -> list:
    """Loads and stores of every slot, and mov/cmp/cmovCC between distinct registers."""
    regs = [isa.Reg(r) for r in registers]
    vocab: list = []
    vocab += [isa.Instruction("mov", (r, Slot(s).mem)) for r in regs for s in slots]
    vocab += [isa.Instruction("mov", (Slot(s).mem, r)) for r in regs for s in slots]
    pairs = [(a, b) for a in regs for b in regs if a != b]
    vocab += [isa.Instruction("mov", (a, b)) for a, b in pairs]
    vocab += [isa.Instruction("cmp", (a, b)) for a, b in pairs]
    vocab += [isa.Instruction("cmov" + c, (a, b)) for c in conditions for a, b in pairs]
    return vocab


class SortTask(Task):
    """sortN or varsortN.

    Args:
      n: the number of values (N).
      variable: varsortN (count in buf[0]) instead of sortN.
      registers: how many registers the vocabulary may use (default N + 1, one temporary).
      conditions: cmov conditions in the vocabulary.
      labels: label slots for varsort's forward jumps.
    """

    def __init__(self, n: int, *, variable: bool = False, registers: Optional[int] = None,
                 conditions: Sequence[str] = ("l", "g"), labels: Optional[int] = None):
        if not 2 <= n <= 8:
            raise ValueError(f"sorts are defined for 2..8 values, not {n}")
        self.n, self.variable = n, variable
        self.has_information = not variable
        self.name = f"{'var' if variable else ''}sort{n}"
        n_regs = registers or n + 1
        if not n <= n_regs <= len(SORT_REGISTERS):
            raise ValueError(f"{self.name} needs {n}..{len(SORT_REGISTERS)} registers, not {n_regs}")
        self.registers = SORT_REGISTERS[:n_regs]
        first = 1 if variable else 0
        self.value_slots = tuple(range(first, first + n))
        vocab = sort_vocabulary(self.value_slots, self.registers, conditions)
        if variable:
            self.labels = labels if labels is not None else n
            count = Slot(0).mem
            vocab += [isa.Instruction("cmp", (count, isa.Imm(k))) for k in range(1, n + 1)]
            vocab += [Jump("j" + c, j) for c in JUMP_CONDITIONS for j in range(self.labels)]
            vocab += [Jump("jmp", j) for j in range(self.labels)]
            vocab += [PlaceLabel(j) for j in range(self.labels)]
        else:
            self.labels = 0
        self.vocabulary = tuple(vocab)
        self.inputs, self.counts = self._inputs()
        self.slots = {slot_key(Slot(k).mem): k for k in range(n + first)}
        # varsort: the value slots past the count are not the function's to touch.
        self.slot_limits = self.counts + 1 if variable else None
        values = self.inputs.memory.view(np.int32)
        self._expected = self.expected(values, self.counts)
        self._weights = self.weights(self.counts)

    def _inputs(self) -> tuple[isa.Inputs, np.ndarray]:
        rng = np.random.default_rng(1234)
        if not self.variable:
            values = tie_patterns(self.n)
            counts = np.full(len(values), self.n, np.int32)
            data = values
        else:
            rows, counts = [], []
            for m in range(1, self.n + 1):
                for pattern in tie_patterns(m):
                    # Past the count: values the function must leave alone.
                    rows.append([m, *pattern, *([-7] * (self.n - m))])
                    counts.append(m)
            data, counts = np.array(rows, np.int32), np.array(counts, np.int32)
        # Registers hold fixed noise, so that a program relying on a register it never set fails.
        registers = rng.integers(0, 2**63, (len(data), 16), dtype=np.uint64)
        return isa.Inputs(registers, data.view(np.uint8).reshape(len(data), -1)), counts

    def expected(self, values: np.ndarray, counts: np.ndarray) -> np.ndarray:
        """[I, slots] int32: what the buffer should hold afterwards (only counted slots matter)."""
        out = values.copy()
        first = 1 if self.variable else 0
        for i, m in enumerate(counts):
            out[i, first:first + m] = np.sort(values[i, first:first + m])
        return out

    def weights(self, counts: np.ndarray) -> np.ndarray:
        """[I, slots]: 1 for each value slot the function must sort, 0 elsewhere."""
        first = 1 if self.variable else 0
        k = np.arange(self.n + first)
        return ((k >= first) & (k < first + counts[:, None])).astype(np.float32)

    @property
    def targets(self) -> np.ndarray:
        """[I, slots] int32 the expected buffer (what an agent may compare values against)."""
        return self._expected

    def jax_judge(self, machine, outside):
        """Items: the value slots holding their sorted value, on inputs that did not fault."""
        values = jm.dwords(machine.memory, 0, self._expected.shape[1]).astype(jnp.int32)
        ok = (machine.fault == 0) & ~outside
        good = (values == jnp.asarray(self._expected)) & ok[:, None]
        w = jnp.asarray(self._weights)
        return (jnp.sum(good * w) / jnp.sum(w)).astype(jnp.float32), jnp.all(good | (w == 0))

    def _values(self, machine):
        """([I, R] register values, [I, N] sorted values wanted, [I, N] value slots) as int32."""
        first = 1 if self.variable else 0
        regs = machine.regs[:, jnp.asarray([isa.Reg(r).number for r in self.registers]), 0].astype(jnp.int32)
        memory = jm.dwords(machine.memory, first, self.n).astype(jnp.int32)
        return regs, jnp.asarray(self._expected[:, first:]), memory

    def jax_potential(self, machine, stored):
        """[] in [0, 1]: the output computed in registers but not yet stored, for reward shaping.

        For the best assignment of distinct registers to the value slots not stored yet, the
        inputs for which each register holds its slot's expected value, beyond those for which
        the slot already holds it untouched. A stored slot counts nothing here: the items reward
        has paid for it. So storing the assigned register moves its part from the potential into
        the items, and with `shaping_weight` 1 a store earns nothing by itself: only computing
        earns, and a search that sees no further than the next move is not lured into storing
        early (it was with a potential that kept counting stored slots).

        Args:
          machine: `isa.jax_machine.Machine` [I].
          stored: [slots] bool, the slots stored so far.
        """
        first = 1 if self.variable else 0
        regs, want, memory = self._values(machine)
        w = jnp.asarray(self._weights[:, first:])
        in_reg = ((regs[:, :, None] == want[:, None, :]) * w[:, None, :]).sum(0)  # [R, N]
        in_mem = ((memory == want) * w).sum(0)                                  # [N]
        gain = jnp.maximum(in_reg - in_mem, 0.0) * ~stored[first:first + self.n]  # [R, N]
        perms = jnp.asarray(self._permutations)                                 # [P, N] register per slot
        matched = gain[perms, jnp.arange(self.n)].sum(1)
        return (matched.max() / jnp.sum(w)).astype(jnp.float32)

    def jax_information(self, machine, loaded, stored, *, flags: bool = False):
        """[] in [0, 1]: how much of the input's order the program has resolved so far.

        Over the inputs whose values are all distinct (P of them: N! for N <= 5), take the N
        places that now hold the values: the slots not loaded or already stored, plus a choice
        of registers, such that every input has each of its values in exactly one of them. A
        compare-and-move program cannot tell apart two inputs whose values lie in those places
        in the same order; a sort must bring all P to one order. With D the
        fewest distinct orders over such choices, the information is log(P / D) / log(P): 0 for
        the input as given, 1 when sorted. A compare-swap of a sorting network gains up to
        1 / log2(P) at once, which the items potential credits only in part: a greedy beam on
        sort4 by items potential alone preferred sorting three values before loading the fourth
        (insertion-like prefixes) and completed no program; with this term it completed 31-32
        instructions, not the 5-comparator network's 28.

        With `flags`, the defined flags count too: a cmov can still act on them, so inputs that
        the flags tell apart need not share an order yet, and D is the most orders within any one
        flag pattern (the worst case, which a conjunctive compare cannot inflate). A
        compare-swap then gains at its cmp, not after its last cmov: the three moves between,
        where nothing was gained, buried the reference sort4 prefix in a beam ranked by the
        return earned (hundreds to thousands of prefixes above it in the middle of each swap, 9-14
        moves); counting the flags leaves only the mov before each cmp (README).

        Args:
          machine: `isa.jax_machine.Machine` [I].
          loaded, stored: [slots] bool.
          flags: count the defined flags (above).
        """
        if self.variable:
            raise NotImplementedError(f"{self.name}: the information potential is defined for fixed sorts")
        values = self.inputs.memory.view(np.int32)
        rows = np.nonzero([len(set(v)) == self.n for v in values])[0]
        if len(rows) < 2:
            return jnp.float32(0)
        regs, _, memory = self._values(machine)
        places = jnp.concatenate([regs, memory], axis=1)[rows]                # [P, L]: registers, then slots
        n_regs = regs.shape[1]
        forced = ~loaded[:self.n] | stored[:self.n]                              # slots that must be chosen
        subsets = np.array(list(itertools.product([False, True], repeat=n_regs)))  # [S, R]
        chosen = jnp.concatenate([jnp.asarray(subsets), jnp.broadcast_to(forced, (len(subsets), self.n))], axis=1)
        onehot = (places[:, :, None] == jnp.arange(1, self.n + 1)).astype(jnp.float32)        # [P, L, N]
        counts = jnp.einsum("sl,pln->spn", chosen.astype(jnp.float32), onehot)
        sound = jnp.all(counts == 1, axis=(1, 2)) & (chosen.sum(1) == self.n)                 # [S]
        differ = (places.T[:, :, None] != places.T[:, None, :]).astype(jnp.float32)            # [L, P, P]
        same = jnp.einsum("sl,lpq->spq", chosen.astype(jnp.float32), differ) == 0               # [S, P, P]
        if not flags:
            orders = jnp.sum(1.0 / same.sum(2), axis=1)                                         # [S]
        else:
            pattern = (machine.flags & machine.defined)[rows]                                   # [P, 4]
            alike = jnp.all(pattern[:, None, :] == pattern[None, :, :], axis=-1)                 # [P, P]
            share = 1.0 / (same & alike[None]).sum(2)                                          # [S, P]
            orders = jnp.max(share @ alike.T.astype(jnp.float32), axis=1)  # orders in p's pattern, worst p
        fewest = jnp.min(jnp.where(sound, orders, len(rows)))
        return (jnp.log(len(rows) / fewest) / np.log(len(rows))).astype(jnp.float32)

    def jax_lost(self, machine, loaded, stored):
        """A value the output still needs is gone: for some input, a slot that is not stored
        yet and does not already hold its sorted value needs a value that no register holds
        and no slot still loadable holds. Under the game's rules (a slot is loaded at most
        once, every load comes before the first store, no other memory operands; Game checks
        they are on) nothing can bring it back, so no program with this prefix sorts. A copy is
        one mov away, so how many slots need the value does not matter.
        """
        first = 1 if self.variable else 0
        regs, want, memory = self._values(machine)
        needed = (jnp.asarray(self._weights[:, first:]) > 0) & ~stored[first:first + self.n] & (memory != want)
        loadable = ~loaded[first:first + self.n] & ~stored.any()
        in_reg = jnp.any(regs[:, None, :] == want[:, :, None], axis=2)        # [I, N]
        in_mem = jnp.any((memory[:, None, :] == want[:, :, None]) & loadable[None, None, :], axis=2)
        return jnp.any(needed & ~in_reg & ~in_mem)

    def jax_stored_wrong(self, machine, stored):
        """A slot is stored with a wrong value for some input (fixed sorts: with branches an
        input may still reach another store to it). Each slot is stored once, so it stays wrong.
        Without this, storing one register into two slots scored as progress (the shaping
        potential may assign that register to a second slot as well), and a beam over sort4
        filled with such prefixes once its loads were done."""
        if self.variable:
            return jnp.bool_(False)
        _, want, memory = self._values(machine)
        return jnp.any((jnp.asarray(self._weights) > 0) & stored[:self.n] & (memory != want))

    def jax_stores_needed(self, machine, stored):
        """The value slots not stored yet that do not hold their sorted value for every input.
        Memory changes only by a store to a fixed slot, and each needs an instruction after
        this point of the program (on every path, with branches), so a program with fewer
        instructions left than this cannot sort."""
        first = 1 if self.variable else 0
        _, want, memory = self._values(machine)
        wrong = (memory != want) & (jnp.asarray(self._weights[:, first:]) > 0)   # [I, N]
        return jnp.sum(jnp.any(wrong, axis=0) & ~stored[first:first + self.n]).astype(jnp.int32)

    @property
    def _permutations(self) -> np.ndarray:
        return np.array(list(itertools.permutations(range(len(self.registers)), self.n)), np.int32)

    def executions(self, program, backend):
        if not self.variable:
            return [(isa.execute(program, self.inputs, backend), self.inputs)]
        # Each count runs with a data region of exactly n + 1 slots: a touch past it faults.
        runs = []
        for m in range(1, self.n + 1):
            rows = np.flatnonzero(self.counts == m)
            sub = isa.Inputs(self.inputs.registers[rows], self.inputs.memory[rows, :4 * (m + 1)])
            runs.append((isa.execute(program, sub, backend), sub))
        return runs

    def judge(self, run, inputs):
        values = inputs.memory.view(np.int32)
        counts = values[:, 0] if self.variable else np.full(len(values), self.n)
        got = run.memory.view(np.int32)
        width = got.shape[1]
        want = self.expected(values, counts)[:, :width]
        weights = self.weights(counts)[:, :width]
        ok = np.array([f is None for f in run.fault])[:, None]
        good = (got == want) & ok
        reason = first_fault(run)
        if reason is None:
            wrong = np.flatnonzero(((~good) & (weights > 0)).any(axis=1))
            if len(wrong):
                i = wrong[0]
                reason = (f"input {i}: {values[i].tolist()} -> {got[i].tolist()}, "
                          f"expected {want[i].tolist()}" + (f" (count {counts[i]})" if self.variable else ""))
        return good, weights, reason
