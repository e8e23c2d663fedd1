"""A task as a pure-JAX single-player game, pgx style: `init(key)` and `step(state, action)`.

A move appends one vocabulary item (games/actions.py). The machine state of every test input
advances by that one instruction (`isa.jax_machine.step`, vmapped over inputs); nothing is
re-run. Illegal moves are impossible (`legal_action_mask`), not punished.

Rewards (AlphaDev's shape): each move earns `correctness_weight` x the change in the weighted
fraction of correct output items; the move that makes every input correct also earns
`correct_bonus` and costs `latency_weight` x latency / `latency_scale`, and ends the episode.
So the rewards of an episode sum to
    correctness_weight x (items_final - items_initial) + [correct] x (bonus - latency penalty),
which the conformance test checks against `task.score` of the finished program. The episode
also ends at `max_length` instructions or when no move is legal. Batch with `jax.vmap`.
"""
from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

import isa
from isa import jax_machine as jm
from isa import u64
from games import actions as A
from games.task import Score, Task


@dataclasses.dataclass(frozen=True)
class Rules:
    """Legality rules (AlphaDev's pruning and the search notes'); each can be switched off."""
    read_once: bool = True           # load each memory slot at most once
    write_once: bool = True          # store each memory slot at most once
    defined_registers: bool = True   # never read a register the program has not written
    ordered_registers: bool = True   # a fresh register is the next one in allocation order
    no_double_compare: bool = True   # no two compares in a row
    no_memory_operands: bool = True  # no compare/cmov/arithmetic on memory (count compares exempt)
    loads_first: bool = True         # every load before the first store
    stores_last: bool = True         # after the first store, only stores
    end_lost: bool = True            # a move that loses a value the output needs ends the episode
                                     # (task.jax_lost; no program with that prefix is correct)
    room_for_stores: bool = True     # no instruction but a store once the instructions left are only
                                     # enough for the stores the output still needs (task.jax_stores_needed)
    end_stored_wrong: bool = False   # a store that leaves its slot wrong for some input ends the
                                     # episode (task.jax_stored_wrong; with write_once it stays wrong)
    loads_in_order: bool = False     # until every slot is loaded, only the load of the lowest slot
                                     # not loaded yet into a fresh register (off: varsort must
                                     # branch first; see _legal)


@dataclasses.dataclass(frozen=True)
class Config:
    """Game hyperparameters.

    Attributes:
      max_length: instructions at most (label moves do not count).
      correctness_weight, correct_bonus, latency_weight: reward weights (AlphaDev: 2.0, 1.0, 0.5).
      latency: "length" (instructions) or "executed" (mean instructions executed, for branches).
      latency_scale: latency is divided by this (default max_length), so the penalty is at most
        latency_weight.
      rules: the legality `Rules`.
      shaping_weight: weight of potential-based shaping (0: off). Each move also earns
        weight x correctness_weight x (potential after - potential before), with the task's
        `jax_potential` (how much of the output is computed in registers and not yet stored)
        and potential 0 at the end of the episode. It sums to -weight x correctness_weight x
        initial potential over any episode, so it changes no ranking of finished programs, but
        it makes the work between loads and stores visible.
      shaping_information: weight of the task's `jax_information` in that potential (sorts: how
        much of the input's order the registers have resolved, see games/sort.py). 0: off.
      information_flags: that information counts the defined flags as well, so a compare-swap
        gains at its cmp rather than at its last cmov (games/sort.py).
    """
    max_length: int = 24
    correctness_weight: float = 2.0
    correct_bonus: float = 1.0
    latency_weight: float = 0.5
    latency: str = "length"
    latency_scale: float = 0.0
    rules: Rules = Rules()
    shaping_weight: float = 0.0
    shaping_information: float = 0.0
    information_flags: bool = False

    def __post_init__(self):
        if isinstance(self.rules, dict):  # from a JSON game_config
            known = {f.name for f in dataclasses.fields(Rules)}
            unknown = set(self.rules) - known
            if unknown:
                raise ValueError(f"unknown rule(s) {sorted(unknown)}; rules: {', '.join(sorted(known))}")
            object.__setattr__(self, "rules", Rules(**self.rules))
        if self.latency not in ("length", "executed"):
            raise ValueError(f"latency must be 'length' or 'executed', not {self.latency!r}")
        if self.max_length < 1:
            raise ValueError(f"max_length must be at least 1, not {self.max_length}")
        if self.information_flags and not self.shaping_information:
            raise ValueError("information_flags changes the information term: set shaping_information too")


@struct.dataclass
class State:
    """One episode. I inputs, A actions, K label slots, S memory slots, M moves at most.

    Attributes:
      machine: `isa.jax_machine.Machine` with leading axis [I].
      moves: [M] int32 actions played, -1 after the last.
      n_moves, length: [] moves played and instructions in the program.
      reg_defined: [16] registers written on every path to here.
      flags_defined: [4] flags defined on every path to here.
      loaded, stored: [S] slots loaded / stored so far.
      last_compare, reachable: [] the last move compared; the end is reachable (false after jmp).
      label_open, label_placed: [K]; label_regs: [K, 16], label_flags: [K, 4] what is defined on
        every jump to an open label.
      outside: [I] the input touched a slot past its count (varsort).
      items: [] weighted fraction of correct output items.
      correct: [] every input correct.
      legal_action_mask: [A]. rewards: [] this move's reward. terminated: [].
      latency_reward: [] the latency part of `rewards` (<= 0, on the move that completes a
        correct program); the rest is the correctness part.
    """
    machine: jm.Machine
    moves: jax.Array
    n_moves: jax.Array
    length: jax.Array
    reg_defined: jax.Array
    flags_defined: jax.Array
    loaded: jax.Array
    stored: jax.Array
    last_compare: jax.Array
    reachable: jax.Array
    label_open: jax.Array
    label_placed: jax.Array
    label_regs: jax.Array
    label_flags: jax.Array
    outside: jax.Array
    items: jax.Array
    correct: jax.Array
    legal_action_mask: jax.Array
    rewards: jax.Array
    terminated: jax.Array
    latency_reward: jax.Array
    potential: jax.Array


class MachineDisagreement(AssertionError):
    """The JAX machine and Unicorn judged a finished program differently: a bug, never noise."""


class Game:
    """A `Task` as a game. `init` and `step` are pure and jit-able; batch with `jax.vmap`."""

    def __init__(self, task: Task, config: Config = Config()):
        self.task, self.config = task, config
        if config.shaping_information and not task.has_information:
            raise ValueError(f"shaping_information: {task.name} defines no information potential (fixed sorts do)")
        if config.rules.loads_in_order and task.slot_limits is not None:
            # An input may not read past its count, so these must branch on it before loading.
            raise ValueError(f"loads_in_order: {task.name} must branch on its count before it loads (fixed sizes only)")
        self.table = A.build(task.vocabulary, task.slots)
        self.num_actions = self.table.size
        self.num_labels = int(self.table.label.max()) + 1 if (self.table.label >= 0).any() else 0
        self.max_moves = config.max_length + self.num_labels
        self.ops = jm.ops_of(self.table.tokens[self.table.kind != A.LABEL])
        # Machine code of every instruction action, encoded once (a jump's offset depends on
        # where its label lands, so jumps and labels have none).
        self.action_bytes = tuple(isa.instruction_bytes(item) if isinstance(item, isa.Instruction) else None
                                  for item in task.vocabulary)
        inputs = task.inputs
        self.num_inputs = len(inputs)
        self.registers = u64.split(inputs.registers)
        self.memory = inputs.memory
        self.slot_count = max(len(task.slots), 1)
        # An input may not touch slots at or past its limit (varsort: past its count).
        limits = task.slot_limits
        self.slot_limits = np.full(self.num_inputs, self.slot_count) if limits is None else np.asarray(limits)
        # Allocation order of the task's registers; others rank last and are never fresh-written.
        rank = np.full(16, 99, np.int32)
        for k, name in enumerate(task.registers):
            rank[isa.Reg(name).number] = k
        self.alloc_rank = rank
        # Losing a value is final only when no rule-breaking load or memory operand can undo it.
        r = config.rules
        self._end_lost = r.end_lost and r.read_once and r.loads_first and r.no_memory_operands
        self.entry_defined = np.zeros(16, bool)
        self.entry_defined[[isa.Reg(r).number for r in ("rsp", *task.entry_registers)]] = True

    # ---- pure JAX -------------------------------------------------------------------------

    def init(self, key: jax.Array | None = None) -> State:
        """The empty program. `key` is accepted for pgx compatibility; the game is deterministic."""
        del key
        machine = jax.vmap(jm.init)(jnp.asarray(self.registers), jnp.asarray(self.memory))
        k = max(self.num_labels, 1)
        outside = jnp.zeros(self.num_inputs, bool)
        items, correct = self.task.jax_judge(machine, outside)
        state = State(machine=machine, moves=jnp.full(self.max_moves, -1, jnp.int32), n_moves=jnp.int32(0),
                      length=jnp.int32(0), reg_defined=jnp.asarray(self.entry_defined),
                      flags_defined=jnp.zeros(4, bool), loaded=jnp.zeros(self.slot_count, bool),
                      stored=jnp.zeros(self.slot_count, bool), last_compare=jnp.bool_(False),
                      reachable=jnp.bool_(True), label_open=jnp.zeros(k, bool), label_placed=jnp.zeros(k, bool),
                      label_regs=jnp.zeros((k, 16), bool), label_flags=jnp.zeros((k, 4), bool),
                      outside=outside, items=items, correct=correct,
                      legal_action_mask=jnp.zeros(self.num_actions, bool), rewards=jnp.float32(0),
                      terminated=jnp.bool_(False), latency_reward=jnp.float32(0),
                      potential=self._potential(machine, jnp.zeros(self.slot_count, bool), jnp.zeros(self.slot_count, bool)))
        mask = self._legal(state)
        return state.replace(legal_action_mask=mask, terminated=~mask.any())

    def step(self, state: State, action: jax.Array) -> State:
        """Plays `action` ([] int32). A terminated state is absorbing (reward 0).

        Args:
          state: the `State`.
          action: [] int32 in [0, num_actions); it must be legal (playing an illegal move is
            the caller's bug: `legal_action_mask` says which are).
        Returns:
          The next `State`.
        """
        t = self.table
        kind, label = jnp.asarray(t.kind)[action], jnp.asarray(t.label)[action]
        token = jnp.asarray(t.tokens)[action]
        plays = kind != A.LABEL
        m = state.machine
        # Inputs at this position (for the count check) before the instruction runs.
        here = (m.pc == state.length) & (m.fault == jm.FAULT_NONE) & plays
        slot = jnp.maximum(jnp.asarray(t.load_slot)[action], jnp.asarray(t.store_slot)[action])
        outside = state.outside | (here & (slot >= jnp.asarray(self.slot_limits)))
        stepped = jax.vmap(lambda mm: jm.step(mm, token, state.length, ops=self.ops))(m)
        resumed = m.replace(pc=jnp.where(m.pc == A.LABEL_BASE + label, state.length, m.pc))
        machine = jax.tree_util.tree_map(lambda a, b: jnp.where(plays, a, b), stepped, resumed)
        length = state.length + plays.astype(jnp.int32)

        # What is defined on every path: a jump records it for its label, a label joins it back.
        writes = jnp.asarray(t.writes)[action]
        fset = (token[jm.F_FSET] >> jnp.arange(4)) & 1 == 1
        fundef = (token[jm.F_FUNDEF] >> jnp.arange(4)) & 1 == 1
        regs = jnp.where(plays, state.reg_defined | writes, state.reg_defined)
        flags = jnp.where(plays, (state.flags_defined | fset) & ~fundef, state.flags_defined)
        is_jump, is_label = kind == A.JUMP, kind == A.LABEL
        k = jnp.arange(state.label_open.shape[0]) == label
        was_open = state.label_open[jnp.maximum(label, 0)]
        join_r = jnp.where(was_open, state.label_regs[jnp.maximum(label, 0)] & regs, regs)
        join_f = jnp.where(was_open, state.label_flags[jnp.maximum(label, 0)] & flags, flags)
        label_regs = jnp.where((k & is_jump)[:, None], join_r[None], state.label_regs)
        label_flags = jnp.where((k & is_jump)[:, None], join_f[None], state.label_flags)
        at_label_r = state.label_regs[jnp.maximum(label, 0)]
        at_label_f = state.label_flags[jnp.maximum(label, 0)]
        regs = jnp.where(is_label, jnp.where(state.reachable, regs & at_label_r, at_label_r), regs)
        flags = jnp.where(is_label, jnp.where(state.reachable, flags & at_label_f, at_label_f), flags)
        reachable = jnp.where(is_label, True, state.reachable & ~jnp.asarray(t.unconditional)[action])

        items, correct = self.task.jax_judge(machine, outside)
        latency = (length.astype(jnp.float32) if self.config.latency == "length"
                   else jnp.mean(machine.executed.astype(jnp.float32)))
        scale = self.config.latency_scale or self.config.max_length
        latency_reward = jnp.where(correct, -self.config.latency_weight * latency / scale, 0.0)
        reward = self.config.correctness_weight * (items - state.items) + jnp.where(
            correct, self.config.correct_bonus, 0.0) + latency_reward
        load, store = jnp.asarray(t.load_slot)[action], jnp.asarray(t.store_slot)[action]
        slots = jnp.arange(self.slot_count)
        new = state.replace(
            machine=machine, moves=state.moves.at[state.n_moves].set(action), n_moves=state.n_moves + 1,
            length=length, reg_defined=regs, flags_defined=flags,
            loaded=state.loaded | (slots == load), stored=state.stored | (slots == store),
            # A label adds no instruction: a compare before it is still the last one on fall-through.
            last_compare=jnp.where(is_label, state.last_compare, jnp.asarray(t.compares)[action]), reachable=reachable,
            label_open=jnp.where(k & is_jump, True, jnp.where(k & is_label, False, state.label_open)),
            label_placed=state.label_placed | (k & is_label), label_regs=label_regs, label_flags=label_flags,
            outside=outside, items=items, correct=correct, rewards=reward.astype(jnp.float32),
            latency_reward=latency_reward.astype(jnp.float32))
        mask = self._legal(new)
        done = correct | ~mask.any() | (new.n_moves >= self.max_moves)
        if self._end_lost:
            done |= self.task.jax_lost(machine, new.loaded, new.stored) & ~correct
        if self.config.rules.end_stored_wrong and self.config.rules.write_once:
            done |= self.task.jax_stored_wrong(machine, new.stored) & ~correct
        potential = jnp.where(done, 0.0, self._potential(machine, new.loaded, new.stored))
        # In the units of the items reward, so that a store moves value from one to the other.
        shaping = self.config.shaping_weight * self.config.correctness_weight * (potential - state.potential)
        new = new.replace(legal_action_mask=mask & ~done, terminated=done, potential=potential,
                          rewards=(new.rewards + shaping).astype(jnp.float32))
        # A terminated state stays as it is.
        return jax.tree_util.tree_map(lambda old, nxt: jnp.where(state.terminated, old, nxt),
                                      state.replace(rewards=jnp.float32(0), latency_reward=jnp.float32(0)), new)

    def from_moves(self, moves: jax.Array) -> State:
        """The state after playing `moves` ([M] int32, -1 past the last) from the empty program.

        Lets an episode start from a program prefix (an explorer's archive, a reference's first
        moves). The moves must be legal in turn, as for `step`.
        """
        def play(state, action):
            nxt = self.step(state, jnp.maximum(action, 0))
            return jax.tree_util.tree_map(lambda a, b: jnp.where(action >= 0, a, b), nxt, state), None

        return jax.lax.scan(play, self.init(), moves)[0]

    def earned(self, state: State) -> jax.Array:
        """[] the correctness return an episode has earned on its way to a non-terminal `state`.

        The items reward and the shaping telescope, so it depends on the state alone:
        correctness_weight x (items gained + shaping_weight x potential gained).
        """
        start = self._start
        cw = self.config.correctness_weight
        return cw * (state.items - start[0] + self.config.shaping_weight * (state.potential - start[1]))

    @functools.cached_property
    def _start(self) -> tuple[float, float]:
        # Eagerly, even when first asked under a trace; not in __init__, where it would add
        # seconds of op compilation to every game built.
        with jax.ensure_compile_time_eval():
            s = self.init()
            return float(s.items), float(s.potential)

    def fingerprint(self, state: State) -> jax.Array:
        """[2] uint32: a 64-bit hash of everything a state's future depends on except its length.

        The machine state of every input (registers, flags, memory, faults; where it stands
        only relative to the program's end) and the game's bookkeeping (what is defined,
        loaded, stored, open). Two prefixes with equal fingerprints have the same continuations
        (within the length budget), so an explorer keeps the shorter one.
        """
        m = state.machine
        pc = jnp.where(m.pc == state.length, -1, m.pc)
        parts = (m.regs, m.flags, m.defined, m.memory, pc, m.fault, state.reg_defined, state.flags_defined,
                 state.loaded, state.stored, state.last_compare, state.reachable, state.label_open,
                 state.label_placed, state.label_regs, state.label_flags, state.outside)
        v = jnp.concatenate([jnp.ravel(x).astype(jnp.uint32) for x in parts])
        # A random linear hash in each half (arithmetic wraps modulo 2^32); fixed per shape.
        c = np.random.default_rng(v.shape[0]).integers(1, 2**32, (2, v.shape[0]), dtype=np.uint64)
        return jnp.sum(v[None] * jnp.asarray(c.astype(np.uint32)), axis=1, dtype=jnp.uint32)

    def _potential(self, machine, loaded, stored) -> jax.Array:
        if not self.config.shaping_weight:
            return jnp.float32(0)
        potential = self.task.jax_potential(machine, stored)
        if self.config.shaping_information:
            potential += self.config.shaping_information * self.task.jax_information(
                machine, loaded, stored, flags=self.config.information_flags)
        return potential

    def _legal(self, s: State) -> jax.Array:
        t, rules = self.table, self.config.rules
        kind = jnp.asarray(t.kind)
        instr, jump, label = kind == A.INSTRUCTION, kind == A.JUMP, kind == A.LABEL
        reads, writes = jnp.asarray(t.reads), jnp.asarray(t.writes)
        load, store = jnp.asarray(t.load_slot), jnp.asarray(t.store_slot)
        ok = jnp.ones(self.num_actions, bool)
        if rules.defined_registers:
            ok &= ~jnp.any(reads & ~s.reg_defined, axis=1)
        if rules.ordered_registers:
            rank = jnp.asarray(self.alloc_rank)
            next_rank = jnp.min(jnp.where(s.reg_defined, 99, rank))
            fresh = writes & ~s.reg_defined
            ok &= ~jnp.any(fresh & (rank != next_rank), axis=1)
        if rules.read_once:
            ok &= ~((load >= 0) & s.loaded[jnp.maximum(load, 0)])
        if rules.write_once:
            ok &= ~((store >= 0) & s.stored[jnp.maximum(store, 0)])
        any_store = s.stored.any()
        if rules.loads_first:
            ok &= ~((load >= 0) & any_store)
        if rules.stores_last:
            ok &= ~(instr & (store < 0) & any_store)
        if rules.loads_in_order:
            # Every load first, lowest slot first: a program that loads everything before it
            # computes can rename its registers so that slot k lands in the k-th register, so
            # this loses no program of that shape (sort3-5's references and AlphaDev's sort3
            # are). It removes the orders and interleavings of the loads, and the prefixes that
            # sort some values before loading the rest, which a beam over sort4 ranked highest at
            # equal length (fewer loads, so more compares); the programs it completed were
            # insertion-like, 31-32 instructions.
            pending = ~s.loaded
            into_fresh = jnp.any(writes & ~s.reg_defined, axis=1)
            ok &= ~pending.any() | ((load == jnp.argmax(pending)) & into_fresh)
        if rules.no_double_compare:
            ok &= ~(jnp.asarray(t.compares) & s.last_compare)
        if rules.no_memory_operands:
            ok &= ~jnp.asarray(t.other_memory)
        # Always: conditionals read defined flags only (else the program is ill-formed).
        tokens = jnp.asarray(t.tokens)
        freads = ((tokens[:, jm.F_FREAD][:, None] >> jnp.arange(4)) & 1) == 1
        ok &= ~jnp.any(freads & ~s.flags_defined, axis=1)
        room = s.length < self.config.max_length
        ok &= ~(instr | jump) | room
        if rules.room_for_stores:
            # A prefix that cannot fit its remaining stores is a dead end that still earns
            # (shaping pays for sorting in registers): sort4's archive filled with 29-move cells
            # that stored nothing yet, under a 32-instruction limit.
            left = self.config.max_length - s.length
            ok &= ~(instr | jump) | (store >= 0) | (left > self.task.jax_stores_needed(s.machine, s.stored))
        ok &= ~(instr | jump) | s.reachable  # after jmp only a label can come
        lab = jnp.maximum(jnp.asarray(t.label), 0)
        if self.num_labels:
            last = jnp.maximum(s.moves[jnp.maximum(s.n_moves - 1, 0)], 0)
            empty = (s.n_moves > 0) & (jnp.asarray(t.kind)[last] == A.JUMP) & (jnp.asarray(t.label)[last] == jnp.asarray(t.label))
            first_unused = jnp.argmin(s.label_open | s.label_placed)
            fresh_ok = ~(s.label_open | s.label_placed).all() & (lab == first_unused)
            ok &= ~jump | (~s.label_placed[lab] & (s.label_open[lab] | fresh_ok))
            ok &= ~label | (s.label_open[lab] & ~empty)
        return ok

    # ---- host side ------------------------------------------------------------------------

    def program(self, state: State) -> isa.Program:
        """The program a (single, unbatched) state has built; open labels stand at the end."""
        moves = np.asarray(jax.device_get(state.moves))[: int(state.n_moves)]
        items, jumps, places = [], [], {}
        for a in moves:
            item = self.task.vocabulary[int(a)]
            if isinstance(item, A.PlaceLabel):
                places[item.label] = len(items)
            elif isinstance(item, A.Jump):
                jumps.append(len(items))
                items.append(item)
            else:
                items.append(item)
        end = len(items)
        out = [isa.Instruction(i.mnemonic, (isa.Target(places.get(i.label, end)),)) if isinstance(i, A.Jump) else i
               for i in items]
        return isa.Program(tuple(out))

    def moves_for(self, program: isa.Program) -> list[int]:
        """The moves that build `program` (label slots in order of first use).

        Raises:
          ValueError: naming the first instruction outside the vocabulary.
        """
        index = {item: k for k, item in enumerate(self.task.vocabulary)}
        labels: dict[int, int] = {}  # target position -> label slot
        moves = []
        for pos in range(len(program) + 1):
            for target, slot in labels.items():
                if target == pos:
                    moves.append(index[A.PlaceLabel(slot)])
            if pos == len(program):
                break
            ins = program[pos]
            if ins.target is not None:
                labels.setdefault(ins.target, len(labels))
                item = A.Jump(ins.mnemonic, labels[ins.target])
            else:
                item = ins
            if item not in index:
                raise ValueError(f"instruction {pos} ({A.describe(item)}) is not in {self.task.name}'s vocabulary")
            moves.append(index[item])
        return moves

    def confirm(self, state: State, backend: str = "unicorn") -> Score:
        """Scores the state's program on `backend` and checks it against the JAX judgement.

        Raises:
          MachineDisagreement: when correctness or the item fraction differ.
        """
        program = self.program(state)
        score = self.task.score(program, backend, cycles=False)
        if score.correct != bool(state.correct) or abs(score.items - float(state.items)) > 1e-5:
            raise MachineDisagreement(
                f"{self.task.name}: JAX says correct={bool(state.correct)} items={float(state.items):.6f}, "
                f"{backend} says correct={score.correct} items={score.items:.6f} ({score.reason}) for\n"
                + isa.format(program))
        return score
