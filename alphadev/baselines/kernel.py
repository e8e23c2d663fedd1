"""A lean, exact image of a sort game's state for enumerative search, stepped in batches.

`games.Game.step` carries the whole machine (16 registers as 64-bit pairs, flags, bytes of
memory, faults, program counters) and the reward and shaping of every move: what learning needs,
and 100x more than an enumeration of register moves does. For games whose vocabulary is only
loads, stores, `mov`, `cmp` and `cmovCC` between the task's 32-bit registers (the fixed sorts),
`Kernel` keeps what such a program can change, per test input: the value in each task register
and memory slot (int8), the outcome of the last compare (-1, 0, 1), and the game's bookkeeping
(registers and flags defined, slots loaded and stored, last move a compare, length). Every other
part of the game's state is a function of these: the upper halves of written registers are 0,
flags of `cmp` on such values are its outcome, nothing faults, every input sits at the end.

Legality is the game's own rules (`games.rules.legal_action_mask`) evaluated on this image (the
one rule that looks at the machine, `room_for_stores`, reads it through a projection);
correctness, the dead ends and the lower bound `remaining` are computed on the image directly.
tests/alphadev/test_astar.py replays random legal episodes and reference programs through
`Game.step` and checks the image, its mask, correctness and dead ends against the game's.
"""
from __future__ import annotations

import functools
import itertools
import types
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

import games
import isa
from games import actions as A
from games import rules

__all__ = ["Children", "Kernel", "Nodes", "unsupported"]

LOAD, STORE, MOV, CMP, CMOV = range(5)
# Which compare outcomes (-1, 0, 1 for <, =, >; signed) make a cmov move.
TAKES = {"l": (1, 0, 0), "g": (0, 0, 1), "le": (1, 1, 0), "ge": (0, 1, 1), "e": (0, 1, 0), "ne": (1, 0, 1)}
SWAPPED = {"l": "g", "g": "l", "le": "ge", "ge": "le", "e": "e", "ne": "ne"}
U32 = jnp.uint32


class Nodes(NamedTuple):
    """A batch of B images ([B, ...] each). I inputs, P places (R registers, then S slots)."""
    vals: np.ndarray     # [B, P, I] int8: each place's value (0 for a register not yet written);
                         # inputs last, so the tests along them run in vector lanes
    cmp: np.ndarray      # [B, I] int8: sign of the last compare's a - b (0 when none)
    flags: np.ndarray    # [B] bool: flags defined
    defined: np.ndarray  # [B, R] bool: registers written
    loaded: np.ndarray   # [B, S] bool
    stored: np.ndarray   # [B, S] bool
    last: np.ndarray     # [B] bool: the last move was a compare
    length: np.ndarray   # [B] int32: instructions


class Children(NamedTuple):
    """What `Kernel.expand` says of every move of a batch of B nodes ([B, A] each, numpy)."""
    legal: np.ndarray    # bool: the game's legal moves
    key: np.ndarray      # [B, A, 2] uint32: the child's `Kernel.key`
    bound: np.ndarray    # int32: `Kernel.judge`'s lower bound on the instructions still needed
    dead: np.ndarray     # bool: a dead end (illegal moves read as dead)
    correct: np.ndarray  # bool
    rows: np.ndarray     # int32: `Kernel.rows` with `estimate`, else 0


def take(nodes: Nodes, index) -> Nodes:
    return Nodes(*(x[index] for x in nodes))


def concat(parts: list) -> Nodes:
    return Nodes(*(np.concatenate(xs) for xs in zip(*parts)))


def _decode(item, registers: dict, slots: dict):
    """(kind, destination place, source place, compare's other place, condition) of one move."""
    if not isinstance(item, isa.Instruction):
        return None
    ops, m = item.operands, item.mnemonic
    reg = lambda o: isinstance(o, isa.Reg) and o.name in registers
    mem = lambda o: isinstance(o, isa.Mem) and o.bits == 32 and A.slot_key(o) in slots
    R = len(registers)
    if m == "mov" and len(ops) == 2 and reg(ops[0]) and mem(ops[1]):
        return LOAD, registers[ops[0].name], R + slots[A.slot_key(ops[1])], -1, None
    if m == "mov" and len(ops) == 2 and mem(ops[0]) and reg(ops[1]):
        return STORE, R + slots[A.slot_key(ops[0])], registers[ops[1].name], -1, None
    if len(ops) != 2 or not (reg(ops[0]) and reg(ops[1])):
        return None
    a, b = registers[ops[0].name], registers[ops[1].name]
    if m == "mov":
        return MOV, a, b, -1, None
    if m == "cmp":
        return CMP, -1, a, b, None
    if m.startswith("cmov") and m[4:] in TAKES:
        return CMOV, a, b, -1, m[4:]
    return None


def unsupported(game: games.Game) -> str | None:
    """Why `Kernel` cannot image `game` (one line), or None when it can."""
    task = game.task
    if not hasattr(task, "targets") or getattr(task, "slot_limits", None) is not None:
        return f"{task.name} is not a fixed sort (no fixed expected values per slot)"
    if not all(isa.Reg(r).bits == 32 for r in task.registers):
        return f"{task.name} uses 64-bit registers"
    registers = {r: k for k, r in enumerate(task.registers)}
    for item in task.vocabulary:
        if _decode(item, registers, task.slots) is None:
            return f"{task.name}'s vocabulary has {item}, outside loads, stores, mov, cmp and cmovCC between its registers"
    values = task.inputs.memory.view(np.int32)
    if values.min() < 1 or values.max() > 127:
        return f"{task.name}'s test values do not fit 1..127"
    return None


def _fmix(h):
    """murmur3's 32-bit finaliser: a bijective mix, so a sum of mixed parts is a multiset hash."""
    h = h ^ (h >> 16)
    h = h * U32(0x85EBCA6B)
    h = h ^ (h >> 13)
    h = h * U32(0xC2B2AE35)
    return h ^ (h >> 16)


def _largest_runs(group, outcome):
    """The sizes of the largest group (inputs equal in `group` [2, Q]) and of the largest class
    (equal in group and `outcome` [Q]), exactly: one lexicographic sort puts each class in a run
    inside its group's run (a Q x Q comparison costs five times as much at Q = 120)."""
    g0, g1, out = jax.lax.sort((group[0], group[1], outcome), num_keys=3)
    index = jnp.arange(len(out))
    new_group = jnp.concatenate([jnp.array([True]), (g0[1:] != g0[:-1]) | (g1[1:] != g1[:-1])])
    new_class = new_group | jnp.concatenate([jnp.array([True]), out[1:] != out[:-1]])
    run = lambda new: jnp.max(index - jax.lax.cummax(jnp.where(new, index, 0)) + 1)
    return run(new_group), run(new_class)


class Kernel:
    """Batched expansion of `Nodes` of one game by every move, jitted in chunks of `chunk` parents.

    Args:
      game: a game `unsupported` accepts.
      chunk: parents per compiled call (the last chunk is padded).
      estimate: also compute `rows` of every child (an estimate for ordering, not a bound).
    Raises:
      ValueError: one line, for a game it cannot image.
    """

    def __init__(self, game: games.Game, *, chunk: int = 128, estimate: bool = False):
        why = unsupported(game)
        if why:
            raise ValueError(f"astar: {why}")
        self.game, self.chunk, self.estimate = game, chunk, estimate
        task = self.task = game.task
        self.R, self.S = len(task.registers), len(task.slots)
        self.reg_numbers = np.array([isa.Reg(r).number for r in task.registers])
        registers = {r: k for k, r in enumerate(task.registers)}
        moves = [_decode(item, registers, task.slots) for item in task.vocabulary]
        self.kind = np.array([m[0] for m in moves], np.int32)
        self.dst = np.array([max(m[1], 0) for m in moves], np.int32)
        self.src = np.array([m[2] for m in moves], np.int32)
        self.other = np.array([max(m[3], 0) for m in moves], np.int32)
        self.takes = np.array([TAKES[m[4]] if m[0] == CMOV else (0, 0, 0) if m[0] == CMP else (1, 1, 1)
                               for m in moves], bool)
        self.writes = np.zeros((len(moves), self.R), bool)
        for a, m in enumerate(moves):
            if m[0] in (LOAD, MOV, CMOV):
                self.writes[a, m[1]] = True
        slot_of = lambda kinds: np.array([m[1 if m[0] == STORE else 2] - self.R if m[0] in kinds else -1
                                          for m in moves])
        self.load_slot, self.store_slot = slot_of((LOAD,)), slot_of((STORE,))
        self.symmetric_registers, self.symmetric_flags = self._symmetries(task.vocabulary, registers)
        self._bound_tables()
        self.stepped = 0
        self.pairs = 8 * chunk  # children evaluated per compiled call
        self._legal_batch = jax.jit(jax.vmap(self._legal))
        self._pairs_batch = jax.jit(lambda batch: jax.vmap(self._pair)(*batch))
        self._keys = jax.jit(jax.vmap(self.key))

    # ---- the image ------------------------------------------------------------------------

    def root(self) -> Nodes:
        """The empty program, as a batch of one."""
        task, I = self.task, self.game.num_inputs
        vals = np.zeros((1, self.R + self.S, I), np.int8)
        vals[0, self.R:] = task.inputs.memory.view(np.int32).T
        z = np.zeros((1, self.S), bool)
        return Nodes(vals, np.zeros((1, I), np.int8), np.zeros(1, bool), np.zeros((1, self.R), bool), z, z.copy(),
                     np.zeros(1, bool), np.zeros(1, np.int32))

    def step(self, nodes: Nodes, action: np.ndarray) -> Nodes:
        """The children of `nodes` by `action` ([B] each), on the host."""
        B = len(action)
        vals, c = nodes.vals.copy(), nodes.cmp.copy()
        rows = np.arange(B)
        kind = self.kind[action]
        take = self.takes[action][rows[:, None], c.astype(np.int64) + 1]              # [B, I]
        dst, src = self.dst[action], self.src[action]
        vals[rows, dst] = np.where(take, vals[rows, src], vals[rows, dst])
        compares = kind == CMP
        diff = np.sign(vals[rows, src].astype(np.int32) - vals[rows, self.other[action]]).astype(np.int8)
        c = np.where(compares[:, None], diff, c)
        slots = np.arange(self.S)
        return Nodes(vals, c, nodes.flags | compares, nodes.defined | self.writes[action],
                     nodes.loaded | (slots == self.load_slot[action][:, None]),
                     nodes.stored | (slots == self.store_slot[action][:, None]), compares, nodes.length + 1)

    def duck(self, p: Nodes):
        """The game-state fields the legality rules read, projected from one image."""
        game, I = self.game, self.game.num_inputs
        regs = jnp.zeros((I, 16, 2), U32).at[:, jnp.asarray(self.reg_numbers), 0].set(
            p.vals[:self.R].T.astype(jnp.int32).astype(U32))
        words = p.vals[self.R:].T.astype(jnp.int32).astype(U32)
        data = jnp.stack([(words >> (8 * k)) & 255 for k in range(4)], axis=-1).reshape(I, 4 * self.S)
        memory = jnp.concatenate([data, jnp.zeros((I, 8), U32)], axis=1).astype(jnp.uint8)
        reg_defined = jnp.asarray(game.entry_defined).at[jnp.asarray(self.reg_numbers)].set(p.defined)
        return types.SimpleNamespace(
            machine=types.SimpleNamespace(regs=regs, memory=memory), loaded=p.loaded, stored=p.stored,
            reg_defined=reg_defined, flags_defined=jnp.broadcast_to(p.flags, (4,)), last_compare=p.last,
            length=p.length, n_moves=p.length, reachable=jnp.bool_(True))

    # ---- what the search asks of each child ------------------------------------------------

    def _legal(self, p: Nodes):
        """[A] bool: the game's legal moves in one image."""
        return rules.legal_action_mask(self.game, self.duck(p))

    def _child(self, p: Nodes, a):
        """The child of one image by move `a` (pure JAX; a masked write, not a scatter)."""
        src = p.vals[jnp.asarray(self.src)[a]]                                         # [I]
        other = p.vals[jnp.asarray(self.other)[a]]
        diff = jnp.sign(src.astype(jnp.int32) - other.astype(jnp.int32)).astype(jnp.int8)
        take = jnp.asarray(self.takes)[a][p.cmp.astype(jnp.int32) + 1]                 # [I]
        writes = (jnp.arange(self.R + self.S) == jnp.asarray(self.dst)[a]) & (jnp.asarray(self.kind)[a] != CMP)
        vals = jnp.where(writes[:, None] & take[None, :], src[None, :], p.vals)
        compares = jnp.asarray(self.kind == CMP)[a]
        slots = jnp.arange(self.S)
        return Nodes(vals, jnp.where(compares, diff, p.cmp), p.flags | compares,
                     p.defined | jnp.asarray(self.writes)[a], p.loaded | (slots == jnp.asarray(self.load_slot)[a]),
                     p.stored | (slots == jnp.asarray(self.store_slot)[a]), compares, p.length + 1)

    def _pair(self, p: Nodes, a):
        """(key [2], bound, dead, correct, rows) of the child of one image by move `a`."""
        child = self._child(p, a)
        rows = self.rows(child) if self.estimate else jnp.int32(0)
        return (self.key(child), *self.judge(child), rows)

    def expand(self, nodes: Nodes) -> Children:
        """`Children` of every node of a batch by every move; only legal children are evaluated
        (the rest read as dead), in compiled chunks of fixed size."""
        legal = np.concatenate([out for out in self._chunked(self._legal_batch, nodes, self.chunk)])
        b, a = np.nonzero(legal)
        B, A = legal.shape
        key = np.zeros((B, A, 2), np.uint32)
        bound, dead, correct = np.zeros((B, A), np.int32), np.ones((B, A), bool), np.zeros((B, A), bool)
        rows = np.zeros((B, A), np.int32)
        if len(b):
            parts = list(self._chunked(self._pairs_batch, (take(nodes, b), a.astype(np.int32)), self.pairs))
            for out, part in zip((key, bound, dead, correct, rows), zip(*parts)):
                out[b, a] = np.concatenate(part)
        self.stepped += len(b)
        return Children(legal, key, bound, dead, correct, rows)

    def _chunked(self, fn, batch, size):
        """fn over `batch` (a pytree of [N, ...] numpy arrays) in padded chunks of `size`."""
        leaves, tree = jax.tree_util.tree_flatten(batch)
        total = len(leaves[0])
        for lo in range(0, total, size):
            part = [x[lo:lo + size] for x in leaves]
            n = len(part[0])
            if n < size:
                part = [np.concatenate([x, np.repeat(x[:1], size - n, axis=0)]) for x in part]
            out = jax.device_get(fn(jax.tree_util.tree_unflatten(tree, part)))
            yield jax.tree_util.tree_map(lambda x, n=n: np.asarray(x)[:n], out)

    def keys(self, nodes: Nodes) -> np.ndarray:
        """[B] uint64 `key` of each node of a batch."""
        k = np.asarray(jax.device_get(self._keys(nodes))).astype(np.uint64)
        return (k[:, 0] << np.uint64(32)) | k[:, 1]

    def key(self, p: Nodes):
        """[2] uint32: a 64-bit hash of the image up to the game's symmetries.

        It leaves out the length (a shorter prefix to the same image has every continuation the
        longer one has: the only rules that read the length, the limit and room_for_stores,
        allow more with fewer instructions). With `symmetric_registers`, the written registers
        enter as a multiset of their columns (values over every input): two images that differ
        by a renaming of written registers have the same continuations, renamed, since the
        vocabulary and rules treat every register alike and the renaming fixes the unwritten
        ones, so the next fresh register in allocation order is the same. With
        `symmetric_flags`, the compare outcome enters as the unordered pair {c, -c}: an image
        with outcomes c and one with -c continue alike, with l and g (le and ge) swapped in
        the cmovs up to the next compare. Both maps preserve length and correctness, so the
        shortest completion of either image is as long as the other's.
        """
        R, k = self.R, self._coefficients
        # A column's hash: the sum over inputs of value * coefficient, mod 2^32 (a u32 dot).
        cols = jax.lax.dot_general(p.vals.astype(U32), jnp.asarray(k["col"]),
                                   (((1,), (1,)), ((), ()))).T                         # [2, P]
        if self.symmetric_registers:
            regs = jnp.sum(jnp.where(p.defined, _fmix(cols[:, :R] + k["salt"][:, None]), U32(0)), axis=1)
        else:
            regs = jnp.sum(jnp.where(p.defined, cols[:, :R] * k["reg"], U32(0)), axis=1)
        memory = jnp.sum(cols[:, R:] * k["slot"], axis=1)
        up = jnp.sum((p.cmp + 1).astype(U32)[None] * k["flag"], axis=1)
        down = jnp.sum((1 - p.cmp).astype(U32)[None] * k["flag"], axis=1)
        flags = _fmix(up) + _fmix(down) if self.symmetric_flags else _fmix(up)
        flags = jnp.where(p.flags, flags, U32(0))
        bits = jnp.concatenate([p.defined, p.loaded, p.stored, p.flags[None], p.last[None]]).astype(U32)
        book = jnp.sum(bits[None] * k["bits"], axis=1)
        return _fmix(regs + _fmix(memory + k["salt"]) + flags + _fmix(book))

    @functools.cached_property
    def _coefficients(self):
        I, P = self.game.num_inputs, self.R + self.S
        rng = np.random.default_rng(20250301)
        draw = lambda *shape: rng.integers(1, 2**32, shape, dtype=np.uint64).astype(np.uint32) | np.uint32(1)
        return dict(col=draw(2, I), salt=draw(2), reg=draw(2, self.R), slot=draw(2, self.S), flag=draw(2, I),
                    bits=draw(2, self.R + 2 * self.S + 2),
                    route=draw(2, P), outcome=draw(2))

    def _symmetries(self, vocabulary, registers) -> tuple[bool, bool]:
        """Whether the vocabulary is closed under swapping two registers, and under l <-> g."""
        items = set(vocabulary)
        names = list(registers)

        def rename(item, f):
            ops = tuple(isa.Reg(f(o.name)) if isinstance(o, isa.Reg) else o for o in item.operands)
            return isa.Instruction(item.mnemonic, ops)

        regs_ok = all(rename(item, lambda r, a=a, b=b: {a: b, b: a}.get(r, r)) in items
                      for a, b in itertools.combinations(names, 2) for item in vocabulary)
        flip = lambda item: (isa.Instruction("cmov" + SWAPPED[item.mnemonic[4:]], item.operands)
                             if item.mnemonic.startswith("cmov") else item)
        return regs_ok, all(flip(item) in items for item in vocabulary)

    # ---- correctness, dead ends and the lower bound ---------------------------------------

    def _bound_tables(self):
        task, rules_ = self.task, self.game.config.rules
        first, n = task.first, task.n
        self.want = task.targets[:, first:first + n].astype(np.int8)                  # [I, N]
        self.weighted = task.item_weights[:, first:first + n] > 0                      # [I, N]
        self.value_places = self.R + first + np.arange(n)
        # Two output slots can take the same register column only if they agree where both count.
        both = self.weighted[:, :, None] & self.weighted[:, None, :]
        self.compatible = np.all(~both | (self.want[:, :, None] == self.want[:, None, :]), axis=0)
        # The inputs with distinct values, one per order: they tell the routes of values apart.
        values = task.inputs.memory.view(np.int32)[:, first:first + n]
        distinct = [i for i in range(len(values)) if len(set(values[i])) == n]
        _, one = np.unique(np.argsort(values[distinct], axis=1), axis=0, return_index=True)
        self.routed = np.array(distinct, np.int64)[np.sort(one)]
        self.origin = values[self.routed].astype(np.int32)                             # [Q, N]
        self.ceil_log2 = np.array([0] + [int(np.ceil(np.log2(m) - 1e-9)) for m in range(1, len(self.routed) + 1)])
        self.read_once, self.loads_first = rules_.read_once, rules_.loads_first
        self.write_once = rules_.write_once
        self.lost_sound = rules_.read_once and rules_.loads_first and rules_.no_memory_operands

    def _loadable(self, p: Nodes):
        """[N] bool: the value slots a load may still read (as the game's rules allow)."""
        first, n = self.task.first, self.task.n
        loadable = jnp.ones(n, bool)
        if self.read_once:
            loadable &= ~p.loaded[first:first + n]
        if self.loads_first:
            loadable &= ~p.stored.any()
        return loadable

    def judge(self, p: Nodes):
        """([] int32 lower bound on the instructions still needed, [] dead end, [] correct).

        Dead: a value the output needs is gone (no register and no slot still loadable holds
        it; `task.lost`'s test, sound under read_once, loads_first and no_memory_operands) or,
        under write_once, a slot was stored wrong (`task.stored_wrong`).

        The bound is the sum of four counts of different kinds of instruction, each a lower
        bound on the instructions of its kind in any correct continuation:
          stores: output slots not stored yet that are wrong for some input (as
            `task.stores_needed`): memory changes only by a store to a fixed slot.
          loads: slots that must still be loaded: for some input, a value a wrong slot needs is
            in no register and in this slot only, among the slots still loadable. A register
            gets a value only from a register or a load, and a slot only from a register.
          cmovs: output slots, pairwise unable to share a register column (a column: a
            register's values over every input), whose column no register holds and no
            loadable slot could give by a load. Only a load or a cmov writes a column that was
            not in some register already (mov copies one), and each writes one.
          compares: ceil(log2 M), M the largest class of inputs with distinct values (one per
            order) that agree on the route of every place (which original slot the value in
            each register and slot came from) and on the last compare's outcome. Two inputs
            of one class that see the same outcome at every later compare make the same
            cmov choices and end with the same routes, but inputs of different orders must
            end with different routes to be sorted; a compare between two places of one class
            splits it in two at most (equal routes compare equal), so c compares part a class
            into at most 2^c.
          cmovs, again: 1 + ceil(log2 M') for the largest group M' of inputs that agree on
            every route, whichever is more (see the comment in the code).
        Every move changes one count by at most one, and only downwards in its own kind (a mov
        or cmov only merges classes, a store of a wrong slot is a dead end), so the bound is
        also consistent: f = g + bound never decreases along a path.
        """
        R = self.R
        vals = p.vals                                                                  # [P, I] int8
        regs, memory = vals[:R], vals[jnp.asarray(self.value_places)]                  # [R, I], [N, I]
        want, w = jnp.asarray(self.want.T), jnp.asarray(self.weighted.T)               # [N, I]
        first, n = self.task.first, self.task.n
        stored = p.stored[first:first + n]
        wrong = w & (memory != want)                                                   # [N, I]
        correct = ~jnp.any(wrong)
        open_ = ~stored if self.write_once else jnp.ones(n, bool)
        needs = jnp.any(wrong, axis=1) & open_                                         # [N]
        stores = jnp.sum(needs)
        held = jnp.any((regs[:, None] == want[None]) & p.defined[:, None, None], axis=0)   # [N, I]
        loadable = self._loadable(p)
        in_slot = (memory[None] == want[:, None]) & loadable[None, :, None]            # [N need, N slot, I]
        need = wrong & open_[:, None] & ~held
        dead = jnp.bool_(False)
        if self.lost_sound:
            dead |= jnp.any(need & ~jnp.any(in_slot, axis=1))
        if self.write_once:
            dead |= jnp.any(wrong & stored[:, None])
        only = need[:, None] & in_slot & (jnp.sum(in_slot, axis=1) == 1)[:, None]
        loads = jnp.sum(jnp.any(only, axis=(0, 2)))
        # cmovs: columns wanted, not held, not loadable; a greedy set of pairwise incompatible ones.
        col_held = jnp.any(jnp.all(~w[None] | (regs[:, None] == want[None]), axis=2)
                           & p.defined[:, None], axis=0)                               # [N]
        col_load = jnp.any(jnp.all(~w[:, None] | (want[:, None] == memory[None]), axis=2)
                           & loadable[None, :], axis=1)                                # [N]
        missing = needs & ~col_held & ~col_load
        if (self.compatible == np.eye(n, dtype=bool)).all():   # every two slots want different columns
            cmovs = jnp.sum(missing)
        else:
            chosen = jnp.zeros(n, bool)
            compatible = jnp.asarray(self.compatible)
            for j in range(n):
                chosen = chosen.at[j].set(missing[j] & ~jnp.any(chosen & compatible[j]))
            cmovs = jnp.sum(chosen)
        # Routes of the inputs with distinct values: which original slot each place's value left.
        rows = p.vals[:, jnp.asarray(self.routed)].astype(jnp.int32)                   # [P, Q]
        origin = jnp.asarray(self.origin.T)                                            # [N, Q]
        routes = jnp.sum((rows[None] == origin[:, None])
                         * jnp.arange(1, n + 1)[:, None, None], axis=0)                # [P, Q], 0: none
        live = jnp.concatenate([p.defined, jnp.ones(self.S, bool)])
        k = self._coefficients
        routes = jnp.where(live[:, None], routes, 0).astype(U32)
        group = jnp.sum(routes[None] * k["route"][:, :, None], axis=1)                 # [2, Q]
        outcome = jnp.where(p.flags, p.cmp[jnp.asarray(self.routed)] + 2, 0).astype(U32)
        largest_group, largest_class = _largest_runs(group, outcome)
        log2 = jnp.asarray(self.ceil_log2)
        compares = log2[largest_class]
        # cmovs, again: two inputs of one route group must end with routes that differ in two
        # stored registers at least, each holding a value once; only a cmov that moves for one
        # of them and not the other makes a pair of routes that differ, and copies of one such
        # pair hold a value twice. So every two inputs of a group are told apart by two cmovs
        # at least: M words of a code with distance 2 need 1 + ceil(log2 M) bits.
        split = log2[largest_group]
        cmovs = jnp.maximum(cmovs, jnp.where(split > 0, split + 1, 0))
        bound = jnp.where(correct, 0, stores + loads + cmovs + compares)
        return bound.astype(jnp.int32), dead & ~correct, correct

    def rows(self, p: Nodes):
        """[] int32: distinct rows of ranks left, an estimate of the sorting still to do (not a bound).

        After Ullrich & Hack (CGO 2025), who rank nodes by the number of distinct permutations
        left in the output registers. A row is, for one input with distinct values (one per
        order), the rank of the value in each live place (a written register, a value slot a
        load may still read; 0 elsewhere). The output registers are not fixed here, so the
        count is the least over leaving out any R - N registers (the temporaries): 1 when N
        registers hold the output for every order, the number of orders before any compare.
        Rows are told apart by a 32-bit hash: a collision only merges two rows of the estimate.
        """
        rows = self._ranks(p)                                                          # [P, Q]
        keep = jnp.asarray(self._row_tables["keep"])                                   # [D, P]
        h = jnp.sum(rows[None] * (jnp.asarray(self._row_tables["coef"])[None] * keep)[:, :, None],
                    axis=1)                                                            # [D, Q]
        h = jnp.sort(h, axis=1)
        distinct = 1 + jnp.sum(h[:, 1:] != h[:, :-1], axis=1)
        return jnp.min(distinct).astype(jnp.int32)

    def _ranks(self, p: Nodes):
        """[P, Q] uint32: the rank (1..N) of each live place's value in each routed input, else 0."""
        first, n = self.task.first, self.task.n
        vals = p.vals[:, jnp.asarray(self.routed)].astype(jnp.int32)                    # [P, Q]
        origin = jnp.asarray(self.origin.T)                                            # [N, Q]
        rank = 1 + jnp.sum(vals[None] > origin[:, None], axis=0)
        slots = jnp.zeros(self.S, bool).at[first:first + n].set(self._loadable(p))
        live = jnp.concatenate([p.defined, slots])
        return jnp.where(live[:, None], rank, 0).astype(U32)

    @functools.cached_property
    def _row_tables(self):
        """keep [D, P]: the places each choice of temporaries leaves; coef [P]: a row's hash."""
        P, spare = self.R + self.S, max(self.R - self.task.n, 0)
        drops = list(itertools.combinations(range(self.R), spare))   # one empty choice when none spare
        keep = np.ones((len(drops), P), bool)
        for d, drop in enumerate(drops):
            keep[d, list(drop)] = False
        rng = np.random.default_rng(20250302)
        coef = rng.integers(1, 2**32, P, dtype=np.uint64).astype(np.uint32) | np.uint32(1)
        return dict(keep=keep.astype(np.uint32), coef=coef)
