"""The cycle model (`isa.latency.model`) computed move by move in pure JAX: `latency="cycles"`.

Each move advances a `Timing`, per path: when each register, flag and memory slot is ready, when
the last store finished, the last finish (the critical path), the micro-ops and the cycles on
each port group so far, and the expected mispredictions. A game whose vocabulary has jumps
keeps one path per test input (an instruction counts on the inputs that execute it); a
straight-line vocabulary keeps one path. `cycles` reads the figure off a `Timing`; it equals
`isa.latency.model_cycles` of the program built so far (tests/games/test_cycles.py checks it).
The per-action data come from `isa.schedule` (LLVM's scheduling model of `task.mcpu`) and are
built once per game (`build`).
"""
from __future__ import annotations

import dataclasses
import functools
from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

import isa
from isa import schedule as sched
from games import actions as A

__all__ = ["CycleTable", "Timing", "build", "init", "advance", "cycles"]


@dataclasses.dataclass(frozen=True)
class CycleTable:
    """Per-action scheduling data and the CPU's constants. A actions, G port groups, C unions of
    groups, S memory addresses the vocabulary touches.

    Attributes:
      latency: [A] float32 cycles (labels: 0). uops: [A] int32 (labels: 0).
      groups: [A, G] float32 cycles on each port group.
      reads, writes: [A, 16] registers waited for / produced.
      flags_read, flags_written: [A, 4].
      loads, stores: [A, S] memory addresses read / written.
      conditional: [A] a conditional jump.
      within: [G, G] group h lies inside group g. group_size: [G].
      inside: [G, C] group g lies inside union c. union_size: [C].
      width: dispatch width. penalty: misprediction penalty in cycles.
      paths: P, one per input for a branchy vocabulary, else 1.
    """
    latency: np.ndarray
    uops: np.ndarray
    groups: np.ndarray
    reads: np.ndarray
    writes: np.ndarray
    flags_read: np.ndarray
    flags_written: np.ndarray
    loads: np.ndarray
    stores: np.ndarray
    conditional: np.ndarray
    within: np.ndarray
    group_size: np.ndarray
    inside: np.ndarray
    union_size: np.ndarray
    width: int
    penalty: float
    paths: int


@struct.dataclass
class Timing:
    """The cycle model's state after a prefix, per path P.

    Attributes:
      reg: [P, 16], flag: [P, 4], mem: [P, S] the cycle each value is ready.
      stored: [P] when the last store finished (stores are performed in order).
      end: [P] the last finish: the critical path.
      uops: [P] int32 micro-ops. groups: [P, G] cycles on each port group.
      misses: [] expected mispredictions per input so far.
    """
    reg: jax.Array
    flag: jax.Array
    mem: jax.Array
    stored: jax.Array
    end: jax.Array
    uops: jax.Array
    groups: jax.Array
    misses: jax.Array


def _instruction(item) -> isa.Instruction:
    """The instruction an action plays (a jump: to a stand-in target, which no figure depends on)."""
    return isa.Instruction(item.mnemonic, (isa.Target(1),)) if isinstance(item, A.Jump) else item


def build(vocabulary: Sequence, mcpu: str, num_inputs: int) -> CycleTable:
    """The `CycleTable` of a vocabulary on `mcpu`.

    Raises:
      ValueError: in one line, for a CPU or an instruction form without scheduling data.
    """
    schedule = sched.load(mcpu)
    played = [(a, _instruction(item)) for a, item in enumerate(vocabulary) if not isinstance(item, A.PlaceLabel)]
    deps = {a: sched.dependencies(ins) for a, ins in played}
    addresses = sorted({x for d in deps.values() for x in d.loads | d.stores}, key=repr)
    n, g, s = len(vocabulary), len(schedule.groups), max(len(addresses), 1)
    t = dict(latency=np.zeros(n, np.float32), uops=np.zeros(n, np.int32), groups=np.zeros((n, g), np.float32),
             reads=np.zeros((n, 16), bool), writes=np.zeros((n, 16), bool), flags_read=np.zeros((n, 4), bool),
             flags_written=np.zeros((n, 4), bool), loads=np.zeros((n, s), bool), stores=np.zeros((n, s), bool),
             conditional=np.zeros(n, bool))
    for a, ins in played:
        form, dep = schedule.form(ins), deps[a]
        t["latency"][a], t["uops"][a], t["groups"][a] = form.latency, form.uops, schedule.group_uops(ins)
        t["reads"][a, sorted(dep.reads)] = True
        t["writes"][a, sorted(dep.writes)] = True
        t["flags_read"][a, sorted(dep.flags_read)] = True
        t["flags_written"][a, sorted(dep.flags_written)] = True
        t["loads"][a, [addresses.index(x) for x in dep.loads]] = True
        t["stores"][a, [addresses.index(x) for x in dep.stores]] = True
        t["conditional"][a] = ins.target is not None and ins.mnemonic != "jmp"
    within, group_size = schedule.subgroups
    inside, union_size = schedule.port_sets
    branchy = any(isinstance(item, A.Jump) for item in vocabulary)
    return CycleTable(**t, within=within.astype(np.float32), group_size=group_size.astype(np.float32),
                      inside=inside.astype(np.float32), union_size=union_size.astype(np.float32),
                      width=schedule.dispatch_width, penalty=float(schedule.mispredict_penalty),
                      paths=num_inputs if branchy else 1)


def init(table: CycleTable) -> Timing:
    """The timing of the empty program: everything ready at cycle 0."""
    p = table.paths
    zeros = lambda *shape: jnp.zeros((p, *shape), jnp.float32)
    return Timing(reg=zeros(16), flag=zeros(4), mem=zeros(table.loads.shape[1]), stored=zeros(), end=zeros(),
                  uops=jnp.zeros(p, jnp.int32), groups=zeros(table.groups.shape[1]), misses=jnp.float32(0))


def advance(table: CycleTable, timing: Timing, action, executes, taken, num_inputs: int) -> Timing:
    """The timing after `action`.

    Args:
      table: the game's `CycleTable`.
      timing: the `Timing` before.
      action: [] int32.
      executes: [P] bool, the paths that execute the action (none for a label).
      taken: [P] bool, the paths on which it is a jump taken.
      num_inputs: the test inputs the misprediction rate is averaged over.
    Returns:
      The next `Timing`.
    """
    at = lambda x: jnp.asarray(x)[action]
    reads, writes, flags_read, flags_written = at(table.reads), at(table.writes), at(table.flags_read), \
        at(table.flags_written)
    loads, stores, mine = at(table.loads), at(table.stores), at(table.groups)
    t = timing
    waits = lambda ready, mask: jnp.max(jnp.where(mask, ready, 0.0), axis=-1)
    # The earliest cycle each port group has a free port for one more micro-op, given those queued.
    queued = jnp.floor(t.groups @ jnp.asarray(table.within) / jnp.asarray(table.group_size))
    start = functools.reduce(jnp.maximum, [
        jnp.floor_divide(t.uops, table.width).astype(jnp.float32),
        waits(queued, mine > 0), waits(t.reg, reads), waits(t.flag, flags_read), waits(t.mem, loads),
        jnp.where(stores.any(), t.stored, 0.0)])
    done = start + at(table.latency)
    go = executes[:, None]
    n = jnp.sum(executes & at(table.conditional))
    took = jnp.sum(executes & taken & at(table.conditional))
    return Timing(
        reg=jnp.where(go & writes, done[:, None], t.reg),
        flag=jnp.where(go & flags_written, done[:, None], t.flag),
        mem=jnp.where(go & stores, done[:, None], t.mem),
        stored=jnp.where(executes & stores.any(), done, t.stored),
        end=jnp.where(executes, jnp.maximum(t.end, done), t.end),
        uops=t.uops + jnp.where(executes, at(table.uops), 0),
        groups=t.groups + jnp.where(go, mine, 0.0),
        misses=t.misses + jnp.minimum(took, n - took).astype(jnp.float32) / num_inputs)


def cycles(table: CycleTable, timing: Timing) -> jax.Array:
    """[] float32: the mean over paths of max(critical path, throughput bound), plus the
    expected misprediction cost."""
    t = timing
    ports = jnp.max(t.groups @ jnp.asarray(table.inside) / jnp.asarray(table.union_size), axis=-1)
    bound = jnp.maximum(t.uops.astype(jnp.float32) / table.width, ports)
    return jnp.mean(jnp.maximum(t.end, bound)) + table.penalty * t.misses
