"""Latency models: instruction count, instructions executed, the cycle model the search uses
(`model_cycles`), and llvm-mca's cycle estimate (`mca`).

The cycle model (the host-side twin of the games' `latency="cycles"`, games/cycles.py, which
computes the same figure move by move in JAX) reads each instruction's latency, micro-ops and
port groups from LLVM's scheduling model of the CPU (`isa.schedule`). Along one path through
the program, in program order:
  - an instruction starts when its register, flag and memory sources are ready, and not before
    the cycle the front end dispatches it (floor(micro-ops before it / dispatch width));
  - its results (registers, flags written or left undefined, a stored memory slot) are ready
    `latency` cycles later; a jump produces nothing but must finish too;
  - the path's critical path is the last finish; its throughput bound is the larger of its
    micro-ops / dispatch width and, over every union S of port groups, the cycles of the
    micro-ops that can only run inside S / |S|;
  - the path costs max(critical path, throughput bound).
A straight-line program has one path. A branchy one costs the mean over the inputs of its
executed path, plus the expected misprediction cost: for each conditional jump, with n inputs
reaching it and t of them taking it, min(t, n - t) mispredictions (the best any predictor can do
on outcomes independent of history, as on random data), each costing the CPU's
`MispredictPenalty` from LLVM's scheduling model, averaged over all inputs.
A zero idiom (`xor r, r`) waits for nothing; a load from a slot stored earlier waits for the
store (store forwarding); stores are performed in program order, each after the one before it
(as llvm-mca's load/store unit orders them). Constant pipeline fill is left out: cycles here are relative.

Native timing needs a harness and lives in `alphadev.bench`, not here.
"""
from __future__ import annotations

import dataclasses
import functools
import re
import subprocess
from typing import Optional

import numpy as np

from isa import schedule as sched
from isa.schedule import McaUnavailable
from isa.schedule import mca_binary as _mca_binary
from isa.machine import execute
from isa.model import Program
from isa.syntax import to_text
from isa.types import Inputs

__all__ = ["McaUnavailable", "McaReport", "McaSchedule", "CycleModel", "instruction_count", "instructions_executed",
           "model", "model_cycles", "model_of_paths", "path_cycles", "mca", "schedule", "cycles"]


def instruction_count(program: Program) -> int:
    return len(program)


def instructions_executed(program: Program, inputs: Inputs, backend: str = "unicorn") -> np.ndarray:
    """[I] instructions executed per input: what matters for branchy programs."""
    return execute(program, inputs, backend).executed


@dataclasses.dataclass(frozen=True)
class CycleModel:
    """The cycle model's figures for a program (module docstring).

    Attributes:
      cycles: mean over the inputs of each path's cost, plus `mispredict`.
      critical_path, throughput: means over the inputs of each path's two bounds.
      mispredict: the expected misprediction cost per call.
      mcpu: the CPU model.
    """
    cycles: float
    critical_path: float
    throughput: float
    mispredict: float
    mcpu: str


def path_cycles(program: Program, trace, schedule: sched.Schedule) -> tuple[float, float]:
    """(critical path, throughput bound) of the path `trace` (instruction indices, in order)."""
    width = schedule.dispatch_width
    reg, flag, mem, stored = np.zeros(16), np.zeros(4), {}, 0.0
    end, uops, groups = 0.0, 0, np.zeros(len(schedule.groups))
    within, size = schedule.subgroups
    for i in trace:
        ins = program[i]
        form, dep, mine = schedule.form(ins), sched.dependencies(ins), schedule.group_uops(ins)
        queued = np.floor(groups @ within / size)
        start = max([float(uops // width), float(np.max(np.where(mine > 0, queued, 0.0), initial=0.0))]
                    + [reg[r] for r in dep.reads] + [flag[f] for f in dep.flags_read]
                    + [mem.get(a, 0.0) for a in dep.loads] + ([stored] if dep.stores else []))
        done = start + form.latency
        for r in dep.writes:
            reg[r] = done
        for f in dep.flags_written:
            flag[f] = done
        for a in dep.stores:
            mem[a] = stored = done
        end = max(end, done)
        uops += form.uops
        groups += mine
    inside, size = schedule.port_sets
    ports = float(np.max(groups @ inside / size)) if inside.size else 0.0
    return end, max(uops / width, ports)


def model(program: Program, mcpu: str = "skylake", inputs: Optional[Inputs] = None) -> CycleModel:
    """The cycle model of `program` (module docstring).

    Args:
      program: the `Program`.
      mcpu: a CPU with scheduling data (`isa.schedule.available()`).
      inputs: the inputs whose paths are averaged (their paths come from Unicorn); None for a
        straight-line program, which has one path.
    Returns:
      A `CycleModel`.
    Raises:
      ValueError: in one line, for a CPU without data, a form without data, or a branchy
        program without inputs.
    """
    schedule = sched.load(mcpu)
    if inputs is None:
        if any(ins.target is not None for ins in program):
            raise ValueError("a branchy program's cycles need inputs (its paths depend on them)")
        path, bound = path_cycles(program, range(len(program)), schedule)
        return CycleModel(max(path, bound), path, bound, 0.0, mcpu)
    from isa.unicorn_backend import paths
    return model_of_paths(program, paths(program, inputs), mcpu)


def model_of_paths(program: Program, runs, mcpu: str = "skylake") -> CycleModel:
    """The cycle model of `program` over given paths (`isa.unicorn_backend.paths`: per input,
    the instructions executed and whether each was a jump taken)."""
    schedule = sched.load(mcpu)
    costs = np.array([path_cycles(program, trace, schedule) for trace, _ in runs]).reshape(-1, 2)
    reached, taken = np.zeros(len(program)), np.zeros(len(program))
    for trace, took in runs:
        for i, t in zip(trace, took):
            if program[i].target is not None and program[i].mnemonic != "jmp":
                reached[i] += 1
                taken[i] += t
    misses = np.minimum(taken, reached - taken).sum() / len(runs)
    mispredict = float(schedule.mispredict_penalty * misses)
    return CycleModel(float(costs.max(axis=1).mean()) + mispredict, float(costs[:, 0].mean()),
                      float(costs[:, 1].mean()), mispredict, mcpu)


def model_cycles(program: Program, mcpu: str = "skylake", inputs: Optional[Inputs] = None) -> float:
    """The cycle model's cycles per call of `program` (`model`)."""
    return model(program, mcpu, inputs).cycles


@dataclasses.dataclass(frozen=True)
class McaReport:
    """llvm-mca's figures for one pass through the program (branches are not followed).

    Attributes:
      cycles: total cycles for a single iteration: the latency of one call, pipeline fill
        included.
      block_rthroughput: llvm-mca's reciprocal throughput of the block (cycles per call when
        calls are issued back to back).
      uops: micro-ops per iteration.
      mcpu: the CPU model used.
    """
    cycles: int
    block_rthroughput: float
    uops: int
    mcpu: str


@functools.lru_cache(maxsize=4096)
def mca(program: Program, mcpu: str = "skylake") -> McaReport:
    """Runs llvm-mca on the program text.

    Args:
      program: the `Program` (an empty one costs 0 cycles).
      mcpu: an LLVM CPU name (`skylake`, `znver3`, `alderlake`, ...).
    Returns:
      The `McaReport`.
    """
    if len(program) == 0:
        return McaReport(0, 0.0, 0, mcpu)
    text = ".intel_syntax noprefix\n" + to_text(program)
    run = subprocess.run([_mca_binary(), f"-mcpu={mcpu}", "-iterations=1", "-mtriple=x86_64-unknown-linux-gnu"],
                         input=text, capture_output=True, text=True)
    if run.returncode:
        raise ValueError(f"llvm-mca failed for -mcpu={mcpu}: {run.stderr.strip().splitlines()[-1]}")
    field = lambda name: re.search(rf"^{name}:\s+([\d.]+)", run.stdout, re.M).group(1)
    return McaReport(int(field("Total Cycles")), float(field("Block RThroughput")), int(field("Total uOps")), mcpu)


def cycles(program: Program, mcpu: str = "skylake") -> int:
    """llvm-mca's total cycles for one call of the program."""
    return mca(program, mcpu).cycles


@dataclasses.dataclass(frozen=True)
class McaSchedule:
    """llvm-mca's scheduling model of a CPU, per instruction of a program.

    Attributes:
      dispatch_width: micro-ops the model dispatches per cycle.
      uops: [N] micro-ops of each instruction. latencies: [N] cycles from its operands to its
        result (a load's included).
      load_latency: cycles of a plain 32-bit load from the L1 cache, in the same model.
      mcpu: the CPU model used.
    """
    dispatch_width: int
    uops: tuple[int, ...]
    latencies: tuple[int, ...]
    load_latency: int
    mcpu: str


@functools.lru_cache(maxsize=1024)
def schedule(program: Program, mcpu: str = "skylake") -> McaSchedule:
    """llvm-mca's instruction info for each instruction of `program` (labels and jumps included).

    Raises:
      McaUnavailable: without llvm-mca. ValueError: when llvm-mca rejects the program or CPU.
    """
    probe = "mov eax, dword ptr [rdi]\n"  # one load more, for the model's L1 load latency
    text = ".intel_syntax noprefix\n" + to_text(program) + probe
    run = subprocess.run([_mca_binary(), f"-mcpu={mcpu}", "-iterations=1", "-instruction-info",
                          "-mtriple=x86_64-unknown-linux-gnu"], input=text, capture_output=True, text=True)
    if run.returncode:
        raise ValueError(f"llvm-mca failed for -mcpu={mcpu}: {run.stderr.strip().splitlines()[-1]}")
    width = int(re.search(r"^Dispatch Width:\s+(\d+)", run.stdout, re.M).group(1))
    table = run.stdout.split("Instructions:\n", 1)[1]
    rows = [line.split() for line in table.splitlines()[:len(program) + 1]]  # [#uOps, Latency, ...]
    uops, latencies = [int(r[0]) for r in rows], [int(r[1]) for r in rows]
    return McaSchedule(width, tuple(uops[:-1]), tuple(latencies[:-1]), latencies[-1], mcpu)
