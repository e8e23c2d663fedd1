"""A task as a pure-JAX single-player game, pgx style: `init(key)` and `step(state, action)`.

A move appends one vocabulary item (games/actions.py). The machine state of every test input
advances by that one instruction (`isa.jax_machine.step`, vmapped over inputs); nothing is
re-run. Illegal moves are impossible (`legal_action_mask`, games/rules.py), not punished.
Rewards and shaping are games/rewards.py; what is defined on every path, games/paths.py. The
episode ends when every input is correct, at `max_length` instructions, when no move is legal,
or at a dead end a rule detects (`Rules.end_lost`, `Rules.end_stored_wrong`). Batch with
`jax.vmap`.
"""
from __future__ import annotations

import functools
from typing import Optional

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

import isa
from isa import jax_machine as jm
from isa import u64
from games import actions as A
from games import cycles, paths, rules
from games.config import Config
from games.rewards import Shaping, items_reward
from games.task import Score, Task

__all__ = ["Game", "State", "MachineDisagreement"]


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
      potential: [] the shaping potential (games/rewards.py), 0 once terminated.
      timing: the cycle model's `games.cycles.Timing` with `latency="cycles"`, else None.
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
    timing: Optional[cycles.Timing] = None


class MachineDisagreement(AssertionError):
    """The JAX machine and Unicorn judged a finished program differently: a bug, never noise."""


class Game:
    """A `Task` as a game. `init` and `step` are pure and jit-able; batch with `jax.vmap`.

    Raises (at construction):
      ValueError: in one line, for a rule whose preconditions do not hold or a shaping
        potential the task does not define.
    """

    def __init__(self, task: Task, config: Config | None = None):
        config = task.config if config is None else config
        self.task, self.config = task, config
        rules.check(config.rules, task)
        self.shaping = Shaping(task, config.shaping)
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
        self.entry_defined = np.zeros(16, bool)
        self.entry_defined[[isa.Reg(r).number for r in ("rsp", *task.entry_registers)]] = True
        self.cycle_table = (cycles.build(task.vocabulary, task.mcpu, self.num_inputs)
                            if config.latency == "cycles" else None)

    # ---- pure JAX -------------------------------------------------------------------------

    def init(self, key: jax.Array | None = None) -> State:
        """The empty program. `key` is accepted for pgx compatibility; the game is deterministic."""
        del key
        machine = jax.vmap(jm.init)(jnp.asarray(self.registers), jnp.asarray(self.memory))
        k = max(self.num_labels, 1)
        outside = jnp.zeros(self.num_inputs, bool)
        items, correct = self.task.jax_judge(machine, outside)
        none = jnp.zeros(self.slot_count, bool)
        state = State(machine=machine, moves=jnp.full(self.max_moves, -1, jnp.int32), n_moves=jnp.int32(0),
                      length=jnp.int32(0), reg_defined=jnp.asarray(self.entry_defined),
                      flags_defined=jnp.zeros(4, bool), loaded=none, stored=none, last_compare=jnp.bool_(False),
                      reachable=jnp.bool_(True), label_open=jnp.zeros(k, bool), label_placed=jnp.zeros(k, bool),
                      label_regs=jnp.zeros((k, 16), bool), label_flags=jnp.zeros((k, 4), bool),
                      outside=outside, items=items, correct=correct,
                      legal_action_mask=jnp.zeros(self.num_actions, bool), rewards=jnp.float32(0),
                      terminated=jnp.bool_(False), latency_reward=jnp.float32(0),
                      potential=self.shaping(machine, none, none),
                      timing=None if self.cycle_table is None else cycles.init(self.cycle_table))
        mask = rules.legal_action_mask(self, state)
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
        token = jnp.asarray(t.tokens)[action]
        machine, outside, length = self._run(state, action, token)
        items, correct = self.task.jax_judge(machine, outside)
        timing = self._time(state, action, token, machine)
        latency = {"length": lambda: length.astype(jnp.float32),
                   "executed": lambda: jnp.mean(machine.executed.astype(jnp.float32)),
                   "cycles": lambda: cycles.cycles(self.cycle_table, timing)}[self.config.latency]()
        reward, latency_reward = items_reward(self.config, state.items, items, correct, latency)
        slots = jnp.arange(self.slot_count)
        new = state.replace(
            machine=machine, moves=state.moves.at[state.n_moves].set(action), n_moves=state.n_moves + 1,
            length=length, loaded=state.loaded | (slots == jnp.asarray(t.load_slot)[action]),
            stored=state.stored | (slots == jnp.asarray(t.store_slot)[action]),
            # A label adds no instruction: a compare before it is still the last one on fall-through.
            last_compare=jnp.where(jnp.asarray(t.kind)[action] == A.LABEL, state.last_compare,
                                   jnp.asarray(t.compares)[action]),
            outside=outside, items=items, correct=correct, rewards=reward.astype(jnp.float32), timing=timing,
            latency_reward=latency_reward.astype(jnp.float32), **paths.advance(t, state, action, token))
        mask = rules.legal_action_mask(self, new)
        done = correct | ~mask.any() | (new.n_moves >= self.max_moves) | self._dead_end(new)
        potential = jnp.where(done, 0.0, self.shaping(machine, new.loaded, new.stored))
        # In the units of the items reward, so that a store moves value from one to the other.
        shaping = self.config.correctness_weight * (potential - state.potential)
        new = new.replace(legal_action_mask=mask & ~done, terminated=done, potential=potential,
                          rewards=(new.rewards + shaping).astype(jnp.float32))
        # A terminated state stays as it is.
        return jax.tree_util.tree_map(lambda old, nxt: jnp.where(state.terminated, old, nxt),
                                      state.replace(rewards=jnp.float32(0), latency_reward=jnp.float32(0)), new)

    def _run(self, state: State, action, token):
        """The machine after `action`, which inputs touched a slot past their limit, the length."""
        t = self.table
        label = jnp.asarray(t.label)[action]
        plays = jnp.asarray(t.kind)[action] != A.LABEL
        m = state.machine
        # Inputs at this position (for the limit check) before the instruction runs.
        here = (m.pc == state.length) & (m.fault == jm.FAULT_NONE) & plays
        slot = jnp.maximum(jnp.asarray(t.load_slot)[action], jnp.asarray(t.store_slot)[action])
        outside = state.outside | (here & (slot >= jnp.asarray(self.slot_limits)))
        stepped = jax.vmap(lambda mm: jm.step(mm, token, state.length, ops=self.ops))(m)
        # Placing a label resumes the inputs that jumped to it.
        resumed = m.replace(pc=jnp.where(m.pc == A.LABEL_BASE + label, state.length, m.pc))
        machine = jax.tree_util.tree_map(lambda a, b: jnp.where(plays, a, b), stepped, resumed)
        return machine, outside, state.length + plays.astype(jnp.int32)

    def _time(self, state: State, action, token, machine):
        """The cycle model's `Timing` after `action` (None unless `latency="cycles"`)."""
        table = self.cycle_table
        if table is None:
            return None
        if table.paths == 1:  # a straight-line vocabulary: one path, every instruction on it
            executes = (jnp.asarray(self.table.kind)[action] != A.LABEL)[None]
            taken = jnp.zeros(1, bool)
        else:  # an input executes what its count of executed instructions grows by
            executes = machine.executed > state.machine.executed
            taken = machine.pc == token[jm.F_TARGET]
        return cycles.advance(table, state.timing, action, executes, taken, self.num_inputs)

    def _dead_end(self, s: State) -> jax.Array:
        """[] bool: a rule found that no program with this prefix can be correct."""
        dead = jnp.bool_(False)
        if self.config.rules.end_lost:
            dead |= self.task.lost(s.machine, s.loaded, s.stored) & ~s.correct
        if self.config.rules.end_stored_wrong:
            dead |= self.task.stored_wrong(s.machine, s.loaded, s.stored) & ~s.correct
        return dead

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
        correctness_weight x (items gained + potential gained).
        """
        start = self._start
        return self.config.correctness_weight * (state.items - start[0] + (state.potential - start[1]))

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

    # ---- host side ------------------------------------------------------------------------

    def program(self, state: State) -> isa.Program:
        """The program a (single, unbatched) state has built; open labels stand at the end."""
        moves = np.asarray(jax.device_get(state.moves))[: int(state.n_moves)]
        return paths.program_of(self.task.vocabulary, moves)

    def moves_for(self, program: isa.Program) -> list[int]:
        """The moves that build `program`. Raises ValueError naming an instruction outside
        the vocabulary."""
        return paths.moves_for(self.task.vocabulary, program, self.task.name)

    def model_cycles(self, program: isa.Program) -> float:
        """The cycle model's cycles of `program` on the host (`isa.latency.model_cycles`), as
        `latency="cycles"` charges them: averaged over the task's inputs when the vocabulary
        has jumps."""
        branchy = any(isinstance(item, A.Jump) for item in self.task.vocabulary)
        return isa.latency.model_cycles(program, self.task.mcpu, self.task.inputs if branchy else None)

    def confirm(self, state: State, backend: str = "unicorn") -> Score:
        """Scores the state's program on `backend` and checks it against the JAX judgement.

        Raises:
          MachineDisagreement: when correctness or the item fraction differ.
        """
        return self.confirm_program(self.program(state), correct=bool(state.correct), items=float(state.items),
                                    backend=backend)

    def confirm_program(self, program: isa.Program, *, correct: bool, items: float,
                        backend: str = "unicorn") -> Score:
        """`confirm` for a program and the JAX judgement of it, without the state (so that a
        process that holds no JAX state can confirm it).

        Args:
          program: the program the JAX state built. correct, items: the state's judgement.
        Raises:
          MachineDisagreement: when correctness or the item fraction differ.
        """
        score = self.task.score(program, backend, cycles=False)
        if score.correct != correct or abs(score.items - items) > 1e-5:
            raise MachineDisagreement(
                f"{self.task.name}: JAX says correct={correct} items={items:.6f}, "
                f"{backend} says correct={score.correct} items={score.items:.6f} ({score.reason}) for\n"
                + isa.to_text(program))
        return score
