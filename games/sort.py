"""Sorting tasks: `sortN` (fixed length) and `varsortN` (the count comes first).

`void sortN(int32_t *buf)`: `rdi` points at N int32 values, sorted ascending in place (signed).
`void varsortN(int32_t *buf)`: `buf[0]` is the count n in 1..N and `buf[1..n]` are sorted; the
slots past n are not the function's to touch: a run that does is incorrect.

Search-time inputs are tie patterns: sequences over {1..k} using every value of {1..k}, i.e.
every ordering with ties (13, 75, 541 for N = 3, 4, 5). For N >= 6 there are too many, so a
fixed-seed sample of `SAMPLED_PATTERNS` distinct patterns is used: random vectors of N draws
from {1..N}, each reduced to its rank pattern.
"""
from __future__ import annotations

import functools
import itertools
from typing import Optional, Sequence

import jax.numpy as jnp
import numpy as np

import isa
from isa import jax_machine as jm

from games import sort_shaping
from games.actions import Jump, PlaceLabel, slot_key
from games.config import Config, Rules
from games.task import CReference, Param, Reference, Signature, Slot, Task, first_fault

__all__ = ["SortTask", "VarSortTask", "tie_patterns", "sort_vocabulary", "sorting_network",
           "random_values", "NETWORKS", "SORT_REGISTERS"]

# Registers a sort may use, in allocation order (rdi holds the buffer and stays out).
SORT_REGISTERS = ("eax", "ecx", "edx", "esi", "r8d", "r9d", "r10d", "r11d", "ebx")
SAMPLED_PATTERNS = 256
JUMP_CONDITIONS = ("e", "ne", "l", "le", "g", "ge")
INT32_MIN, INT32_MAX = -2**31, 2**31 - 1

# Optimal-size comparator networks; the best known sizes up to 8 values.
NETWORKS = {
    2: [(0, 1)],
    3: [(0, 1), (1, 2), (0, 1)],
    4: [(0, 1), (2, 3), (0, 2), (1, 3), (1, 2)],
    5: [(0, 1), (3, 4), (2, 4), (2, 3), (0, 3), (0, 2), (1, 4), (1, 3), (1, 2)],
}
COMPARATORS = {2: 1, 3: 3, 4: 5, 5: 9, 6: 12, 7: 16, 8: 19}
ALPHADEV_LENGTHS = {3: 17, 4: 28, 5: 43}
ALPHADEV_VARSORT_LENGTHS = {3: 21, 4: 37, 5: 63}
VARSORT_BUDGETS = {3: 37, 4: 70, 5: 119}  # max_length: AlphaDev's human baselines (33, 66, 115) + 4
SIGNATURE = Signature((Param("buf", "int32_t *", "rdi"),))


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


def random_values(n_inputs: int, n: int, rng: np.random.Generator) -> np.ndarray:
    """[n_inputs, n] int32 mixing full-range values, extremes, zero and duplicates."""
    full = rng.integers(INT32_MIN, INT32_MAX, (n_inputs, n), endpoint=True)
    extremes = np.array([INT32_MIN, INT32_MAX, 0, -1, 1])[rng.integers(0, 5, (n_inputs, n))]
    few = rng.integers(-3, 4, (n_inputs, n))
    kind = rng.integers(0, 4, (n_inputs, n))
    values = np.where(kind == 0, extremes, np.where(kind == 1, few, full))
    # A quarter of the vectors take one kind throughout (all duplicates, all extremes, ...).
    whole = rng.random(n_inputs) < 0.25
    values[whole] = np.where(rng.random((int(whole.sum()), 1)) < 0.5, extremes[whole], few[whole])
    return values.astype(np.int32)


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


def compare_swap(a: str, b: str, temp: str) -> list[str]:
    """After it, a <= b (signed)."""
    return [f"mov {temp}, {a}", f"cmp {a}, {b}", f"cmovg {a}, {b}", f"cmovg {b}, {temp}"]


def sorting_network(n: int) -> isa.Program:
    """The comparator network as cmov compare-swaps of 4 instructions, with loads and stores."""
    if n not in NETWORKS:
        raise ValueError(f"no reference network for {n} values (have {sorted(NETWORKS)})")
    regs, temp = SORT_REGISTERS[:n], SORT_REGISTERS[n]
    lines = [f"mov {regs[k]}, dword ptr [rdi+{4 * k}]" for k in range(n)]
    for i, j in NETWORKS[n]:
        lines += compare_swap(regs[i], regs[j], temp)
    lines += [f"mov dword ptr [rdi+{4 * k}], {regs[k]}" for k in range(n)]
    return isa.parse("\n".join(lines))


C_CSWAP = """static inline void cswap(int32_t *a, int32_t *b) {
    int32_t x = *a, y = *b; *a = x < y ? x : y; *b = x < y ? y : x;
}
"""


def _c_network(n: int, offset: int) -> str:
    return "".join(f"    cswap(buf + {i + offset}, buf + {j + offset});\n" for i, j in NETWORKS.get(n, ()))


class _Sort(Task):
    """What sortN and varsortN share: values from slot `first` on, judged slot by slot.

    Args:
      n: the number of values (N).
      registers: how many registers the vocabulary may use (default N + 1, one temporary).
      conditions: cmov conditions in the vocabulary.
    """
    first: int
    signature = SIGNATURE

    def __init__(self, n: int, *, registers: Optional[int], conditions: Sequence[str]):
        if not 2 <= n <= 8:
            raise ValueError(f"sorts are defined for 2..8 values, not {n}")
        self.n = n
        n_regs = registers or n + 1
        if not n <= n_regs <= len(SORT_REGISTERS):
            raise ValueError(f"{self.name} needs {n}..{len(SORT_REGISTERS)} registers, not {n_regs}")
        self.registers = SORT_REGISTERS[:n_regs]
        self.value_slots = tuple(range(self.first, self.first + n))
        self.vocabulary = tuple(sort_vocabulary(self.value_slots, self.registers, conditions) + self._extra_vocabulary())
        data, self.counts = self._data()
        # Registers hold fixed noise, so that a program relying on a register it never set fails.
        noise = np.random.default_rng(1234).integers(0, 2**63, (len(data), 16), dtype=np.uint64)
        self.inputs = isa.Inputs(noise, data.view(np.uint8).reshape(len(data), -1))
        self.slots = {slot_key(Slot(k).mem): k for k in range(n + self.first)}
        values = self.inputs.memory.view(np.int32)
        self.targets = self.expected(values, self.counts)
        self.item_weights = self.weights(self.counts)
        self.potentials = {"registers": functools.partial(sort_shaping.registers, self)}
        self.lost = functools.partial(sort_shaping.lost, self)
        self.stores_needed = functools.partial(sort_shaping.stores_needed, self)

    def _extra_vocabulary(self) -> list:
        return []

    def _data(self) -> tuple[np.ndarray, np.ndarray]:
        """([I, slots] int32 buffers, [I] counts) of the search-time inputs."""
        raise NotImplementedError

    def expected(self, values: np.ndarray, counts: np.ndarray) -> np.ndarray:
        """[I, slots] int32: what the buffer should hold afterwards (only counted slots matter)."""
        out = values.copy()
        for i, m in enumerate(counts):
            out[i, self.first:self.first + m] = np.sort(values[i, self.first:self.first + m])
        return out

    def weights(self, counts: np.ndarray) -> np.ndarray:
        """[I, slots]: 1 for each value slot the function must sort, 0 elsewhere."""
        k = np.arange(self.n + self.first)
        return ((k >= self.first) & (k < self.first + counts[:, None])).astype(np.float32)

    def jax_judge(self, machine, outside):
        """Items: the value slots holding their sorted value, on inputs that did not fault."""
        values = jm.dwords(machine.memory, 0, self.targets.shape[1]).astype(jnp.int32)
        ok = (machine.fault == 0) & ~outside
        good = (values == jnp.asarray(self.targets)) & ok[:, None]
        w = jnp.asarray(self.item_weights)
        return (jnp.sum(good * w) / jnp.sum(w)).astype(jnp.float32), jnp.all(good | (w == 0))

    def _judge(self, run, inputs):
        """([I, K] item correct, [I, K] weights, reason) for a run of any sort inputs."""
        values = inputs.memory.view(np.int32)
        counts = values[:, 0] if self.first else np.full(len(values), self.n)
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
                          f"expected {want[i].tolist()}" + (f" (count {counts[i]})" if self.first else ""))
        return good, weights, reason

    def check(self, run, inputs):
        return self._judge(run, inputs)[2]

    def assess(self, runs):
        n_correct, weighted, total, reason = 0, 0.0, 0.0, None
        for run, inputs in runs:
            good, weights, why = self._judge(run, inputs)
            n_correct += int(np.sum(good.all(axis=1) | (weights == 0).all(axis=1)))
            weighted += float(np.sum(good * weights))
            total += float(np.sum(weights))
            reason = reason or why
        return (weighted / total if total else 0.0), n_correct, reason

    def _noise(self, rng, rows: int) -> np.ndarray:
        return rng.integers(0, 2**64 - 1, (rows, 16), dtype=np.uint64, endpoint=True)


class SortTask(_Sort):
    """sortN: N int32 at `rdi`, sorted in place."""
    first = 0

    def __init__(self, n: int, *, registers: Optional[int] = None, conditions: Sequence[str] = ("l", "g")):
        self.name = f"sort{n}"
        super().__init__(n, registers=registers, conditions=conditions)
        self.potentials = {**self.potentials,
                           "information": functools.partial(sort_shaping.information, self),
                           "flag_information": functools.partial(sort_shaping.information, self, flags=True)}
        self.stored_wrong = functools.partial(sort_shaping.stored_wrong, self)
        human = 2 * n + 4 * COMPARATORS[n]
        self.target_lengths = {"human": human, **({"alphadev": ALPHADEV_LENGTHS[n]} if n in ALPHADEV_LENGTHS else {})}
        self.config = Config(max_length=human + 4, shaping={"registers": 1.0},
                             rules=Rules(room_for_stores=True, end_lost=True))
        if n in NETWORKS:
            self.references = (Reference("human reference (cmov network)", sorting_network(n)),)
            self.c_references = (CReference("C network (gcc -O3)", _c_network(n, 0), C_CSWAP),)

    def _data(self):
        values = tie_patterns(self.n)
        return values, np.full(len(values), self.n, np.int32)

    def random_inputs(self, n: int, seed: int) -> list[isa.Inputs]:
        rng = np.random.default_rng(seed)
        values = random_values(n, self.n, rng)
        return [isa.Inputs(self._noise(rng, n), values.view(np.uint8).reshape(n, -1))]


VARSORT3_BRANCHY = isa.parse("""
    cmp dword ptr [rdi], 2
    jl .end
    mov eax, dword ptr [rdi+4]
    mov ecx, dword ptr [rdi+8]
    mov edx, eax
    cmp eax, ecx
    cmovg eax, ecx
    cmovg ecx, edx
    cmp dword ptr [rdi], 3
    jl .two
    mov esi, dword ptr [rdi+12]
    mov edx, ecx
    cmp ecx, esi
    cmovg ecx, esi
    cmovg esi, edx
    mov edx, eax
    cmp eax, ecx
    cmovg eax, ecx
    cmovg ecx, edx
    mov dword ptr [rdi+12], esi
.two:
    mov dword ptr [rdi+4], eax
    mov dword ptr [rdi+8], ecx
.end:
""")

# Insertion, as AlphaDev's varsort4 does: sort the first two, and while the count allows, load
# the next value and insert it by compare-swaps down the sorted prefix; each count's path then
# stores only the slots it holds (the labels fall through to the stores below them).
VARSORT4_BRANCHY = isa.parse("""
    cmp dword ptr [rdi], 2
    jl .end
    mov eax, dword ptr [rdi+4]
    mov ecx, dword ptr [rdi+8]
    mov edx, eax
    cmp eax, ecx
    cmovg eax, ecx
    cmovg ecx, edx
    cmp dword ptr [rdi], 3
    jl .two
    mov esi, dword ptr [rdi+12]
    mov edx, ecx
    cmp ecx, esi
    cmovg ecx, esi
    cmovg esi, edx
    mov edx, eax
    cmp eax, ecx
    cmovg eax, ecx
    cmovg ecx, edx
    cmp dword ptr [rdi], 4
    jl .three
    mov r8d, dword ptr [rdi+16]
    mov edx, esi
    cmp esi, r8d
    cmovg esi, r8d
    cmovg r8d, edx
    mov edx, ecx
    cmp ecx, esi
    cmovg ecx, esi
    cmovg esi, edx
    mov edx, eax
    cmp eax, ecx
    cmovg eax, ecx
    cmovg ecx, edx
    mov dword ptr [rdi+16], r8d
.three:
    mov dword ptr [rdi+12], esi
.two:
    mov dword ptr [rdi+4], eax
    mov dword ptr [rdi+8], ecx
.end:
""")

C_VARSORT4 = """    int n = buf[0];
    if (n < 2) return;
    cswap(buf + 1, buf + 2);
    if (n < 3) return;
    cswap(buf + 2, buf + 3);
    cswap(buf + 1, buf + 2);
    if (n < 4) return;
    cswap(buf + 3, buf + 4);
    cswap(buf + 2, buf + 3);
    cswap(buf + 1, buf + 2);
"""

C_VARSORT3 = """    int n = buf[0];
    if (n < 2) return;
    cswap(buf + 1, buf + 2);
    if (n < 3) return;
    cswap(buf + 2, buf + 3);
    cswap(buf + 1, buf + 2);
"""


class VarSortTask(_Sort):
    """varsortN: `buf[0]` is the count n, `buf[1..n]` are sorted; a run that touches a slot
    past its count is incorrect (the game tracks it; the host runs each count with a data
    region of exactly n + 1 slots).

    Args:
      labels: label slots for the forward jumps (default N).
    """
    first = 1

    def __init__(self, n: int, *, registers: Optional[int] = None, conditions: Sequence[str] = ("l", "g"),
                 labels: Optional[int] = None):
        self.name = f"varsort{n}"
        self.labels = labels if labels is not None else n
        super().__init__(n, registers=registers, conditions=conditions)
        self.slot_limits = self.counts + 1
        self.target_lengths = {"alphadev": ALPHADEV_VARSORT_LENGTHS[n]}
        # Each branch stores on its own, so "stores last" cannot hold; latency is what runs.
        self.config = Config(max_length=VARSORT_BUDGETS[n], latency="executed", shaping={"registers": 1.0},
                             rules=Rules(stores_last=False, room_for_stores=True, end_lost=True))
        branchy, c_body = {3: (VARSORT3_BRANCHY, C_VARSORT3), 4: (VARSORT4_BRANCHY, C_VARSORT4)}.get(n, (None, None))
        if branchy is not None:
            self.references = (Reference("human reference (branchy)", branchy),)
            self.c_references = (CReference("C insertion (gcc -O3)", c_body, C_CSWAP),)
            self.target_lengths["human"] = len(branchy)

    def _extra_vocabulary(self) -> list:
        count = Slot(0).mem
        vocab: list = [isa.Instruction("cmp", (count, isa.Imm(k))) for k in range(1, self.n + 1)]
        vocab += [Jump("j" + c, j) for c in JUMP_CONDITIONS for j in range(self.labels)]
        vocab += [Jump("jmp", j) for j in range(self.labels)]
        vocab += [PlaceLabel(j) for j in range(self.labels)]
        return vocab

    def _data(self):
        rows, counts = [], []
        for m in range(1, self.n + 1):
            for pattern in tie_patterns(m):
                # Past the count: values the function must leave alone.
                rows.append([m, *pattern, *([-7] * (self.n - m))])
                counts.append(m)
        return np.array(rows, np.int32), np.array(counts, np.int32)

    def executions(self, program, backend):
        # Each count runs with a data region of exactly n + 1 slots: a touch past it faults.
        return [(isa.execute(program, sub, backend), sub) for sub in self._by_count(self.inputs, self.counts)]

    @staticmethod
    def _by_count(inputs: isa.Inputs, counts: np.ndarray) -> list[isa.Inputs]:
        return [isa.Inputs(inputs.registers[rows], inputs.memory[rows, :4 * (m + 1)])
                for m in np.unique(counts) for rows in [np.flatnonzero(counts == m)]]

    def random_inputs(self, n: int, seed: int) -> list[isa.Inputs]:
        rng = np.random.default_rng(seed)
        counts = rng.integers(1, self.n + 1, n).astype(np.int32)
        data = np.concatenate([counts[:, None], random_values(n, self.n, rng)], axis=1)
        inputs = isa.Inputs(self._noise(rng, n), data.view(np.uint8).reshape(n, -1))
        return self._by_count(inputs, counts)
