"""Lower bounds on a kernel's native figures, from llvm-mca's scheduling model of a CPU.

A measured figure below its bound cannot be the kernel's own cost: the harness, the counter or
the machine made it, and bench says so loudly. Both bounds are for straight-line programs (a
branchy one executes only part of its instructions, so neither bound holds for it):

- throughput: the kernel's micro-ops over the model's dispatch width, the fewest cycles per
  call when calls overlap freely;
- latency: the longest dependency chain from the kernel's inputs to its outputs (stored values
  and the result register), through registers, flags and memory the kernel stores and loads
  again, each instruction taking the model's latency; loads count as free (store forwarding,
  and memory renaming on newer cores, can hand the next call its input in less than an L1 hit),
  and so do plain stores.
"""
from __future__ import annotations

import dataclasses
from typing import Optional

import isa
from games.actions import registers_used
from isa.flags import flags_read, flags_written
from isa.latency import schedule

__all__ = ["Bounds", "bounds", "critical_path"]


@dataclasses.dataclass(frozen=True)
class Bounds:
    """Attributes: throughput, latency: cycles per call; uops, dispatch_width, mcpu: whence."""
    throughput: float
    latency: int
    uops: int
    dispatch_width: int
    mcpu: str


def _is_store(ins: isa.Instruction) -> bool:
    return bool(ins.operands) and isinstance(ins.operands[0], isa.Mem) and ins.mnemonic != "cmp"


def critical_path(program: isa.Program, latencies, load_latency: int, result: Optional[str] = None) -> int:
    """The longest chain from the inputs to the outputs of a straight-line program, in cycles.

    Args:
      program: without jumps.
      latencies: [N] each instruction's latency, its load included. load_latency: a plain load's.
      result: the result register's name, if the kernel returns one.
    Returns:
      The cycles at which the last output (stored value or result) is ready, the inputs being
      ready at 0.
    """
    ready = [0] * 16              # per register number: when its value is ready
    flags = 0                     # when the flags are ready (one resource: every writer sets all we read)
    stored: dict[isa.Mem, int] = {}  # address -> when the value stored there is ready
    for ins, latency in zip(program, latencies):
        reads, writes = registers_used(ins)
        ops = ins.operands
        if ins.mnemonic in ("xor", "sub") and len(ops) == 2 and ops[0] == ops[1]:
            reads = set()         # a zeroing idiom depends on nothing
        start = max([ready[r] for r in reads] + [flags if flags_read(ins) else 0])
        memory = next((op for op in ops if isinstance(op, isa.Mem) and op.bits), None)
        loads = memory is not None and not (ins.mnemonic == "mov" and _is_store(ins))
        if loads:
            start = max(start, stored.get(memory, 0))
            latency = max(latency - load_latency, 0)
        elif _is_store(ins):
            latency = 0
        done = start + latency
        for r in writes:
            ready[r] = done
        if any(flags_written(ins)):
            flags = done
        if _is_store(ins):
            stored[memory] = done
    outputs = list(stored.values()) + ([ready[isa.Reg(result).number]] if result else [])
    return max(outputs, default=0)


def bounds(program: isa.Program, result: Optional[str] = None, *, mcpu: str = "skylake") -> Optional[Bounds]:
    """A straight-line program's `Bounds` under llvm-mca's model of `mcpu`; None for a branchy
    or empty one.

    Raises:
      isa.latency.McaUnavailable: without llvm-mca.
    """
    if not len(program) or any(ins.target is not None for ins in program):
        return None
    model = schedule(program, mcpu)
    path = critical_path(program, model.latencies, model.load_latency, result)
    uops = sum(model.uops)
    return Bounds(uops / model.dispatch_width, path, uops, model.dispatch_width, mcpu)
