"""Latency models: instruction count, instructions executed, and an llvm-mca cycle estimate.

Native timing needs a harness and lives in `alphadev.verify`, not here.
"""
from __future__ import annotations

import dataclasses
import functools
import re
import shutil
import subprocess

import numpy as np

from isa.machine import execute
from isa.model import Program
from isa.syntax import to_text
from isa.types import Inputs

__all__ = ["McaUnavailable", "McaReport", "McaSchedule", "instruction_count", "instructions_executed", "mca",
           "schedule", "cycles"]


class McaUnavailable(RuntimeError):
    """llvm-mca is not installed (Debian/Ubuntu: apt-get install llvm)."""


def instruction_count(program: Program) -> int:
    return len(program)


def instructions_executed(program: Program, inputs: Inputs, backend: str = "unicorn") -> np.ndarray:
    """[I] instructions executed per input: what matters for branchy programs."""
    return execute(program, inputs, backend).executed


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


@functools.lru_cache(maxsize=1)
def _mca_binary() -> str:
    for name in ("llvm-mca", *(f"llvm-mca-{v}" for v in range(20, 12, -1))):
        if shutil.which(name):
            return name
    raise McaUnavailable("llvm-mca not found: install LLVM (apt-get install llvm)")


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
