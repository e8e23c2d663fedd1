"""The native backend: the host CPU, in a child process.

`native_harness.c` is compiled with gcc on first use (cached by its source hash under
`$ALPHADEV_CACHE`, default `~/.cache/alphadev`). Each call runs one child: a program that
faults ends only its own input inside the child, and a child that dies anyway costs the caller
nothing but the inputs it had not finished, which are reported as faulted.
"""
from __future__ import annotations

import hashlib
import os
import platform
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from isa import flags as fl
from isa.encoding import assemble, offsets
from isa.model import REGISTERS_64, Program
from isa.syntax import fault_reason
from isa.types import (BAD_MEMORY, DATA_BASE, STACK_TOP, STEP_LIMIT, UNDEFINED_FLAG, Execution,
                       Inputs)

_SOURCE = Path(__file__).with_name("native_harness.c")
_SIGNALS = {4: "SIGILL", 7: "SIGBUS", 8: "SIGFPE", 11: "SIGSEGV"}


class NativeUnavailable(RuntimeError):
    """The host cannot run x86-64 code natively (or has no C compiler)."""


def cache_dir() -> Path:
    return Path(os.environ.get("ALPHADEV_CACHE", Path.home() / ".cache" / "alphadev"))


def harness() -> Path:
    """Path of the compiled harness, building it on first use."""
    if platform.machine() not in ("x86_64", "AMD64"):
        raise NativeUnavailable(f"the native backend needs an x86-64 host, this is {platform.machine()}")
    source = _SOURCE.read_bytes()
    binary = cache_dir() / f"native-harness-{hashlib.sha256(source).hexdigest()[:16]}"
    if binary.exists():
        return binary
    cc = shutil.which(os.environ.get("CC", "gcc")) or shutil.which("cc")
    if cc is None:
        raise NativeUnavailable("the native backend needs gcc (apt-get install gcc)")
    binary.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=binary.parent) as tmp:
        out = Path(tmp) / "harness"
        build = subprocess.run([cc, "-O2", "-o", str(out), str(_SOURCE)], capture_output=True, text=True)
        if build.returncode:
            raise NativeUnavailable(f"compiling the native harness failed:\n{build.stderr}")
        os.replace(out, binary)  # atomic: parallel test workers may build at once
    return binary


def _instruction_table(program: Program, code: bytes) -> np.ndarray:
    table = np.zeros((len(program), 8), np.int64)
    for i, (ins, off) in enumerate(zip(program, offsets(code))):
        table[i, 0] = off
        mem = ins.memory
        if mem is not None and ins.mnemonic != "lea":  # lea computes an address, reads nothing
            table[i, 1:7] = (1, REGISTERS_64.index(mem.base),
                             REGISTERS_64.index(mem.index) if mem.index else -1,
                             mem.scale, mem.disp, mem.size)
    return table


def execute(program: Program, inputs: Inputs, *, step_limit: int = 10_000,
            check_memory: bool = True, single_step: bool = True, timeout: float | None = None) -> Execution:
    """Runs `program` on the host CPU for every input.

    Args:
      program: the `Program`.
      inputs: `Inputs` with I states.
      step_limit: instructions after which an input is stopped and faulted.
      check_memory: check each access against the exact data region before it happens. With
        False, only what the hardware itself catches (an unmapped page) faults; tests use it to
        show that a real SIGSEGV in the child is survived.
      single_step: trace the kernel instruction by instruction (path, step limit, exact bounds,
        flag definedness). False runs it at full speed, for inputs another backend has already
        checked: then `executed` is -1 and `flags_defined` all False (not known), and only page
        protection guards memory.
      timeout: seconds before the child is killed (default: generous for the work given).
    Returns:
      An `Execution`.
    """
    code = assemble(program)
    n, m = len(inputs), inputs.data_size
    header = np.array([len(program), len(code), n, m, step_limit, int(check_memory), DATA_BASE,
                       int(single_step)], np.int64)
    if timeout is None:  # single-stepping costs some microseconds per instruction
        timeout = 30.0 + n * (len(program) * 5e-5 if single_step else 1e-5)
    payload = [header.tobytes(), _instruction_table(program, code).tobytes(), code]
    for k in range(n):
        payload += [inputs.registers[k].astype("<u8").tobytes(), inputs.memory[k].tobytes()]
    try:
        child = subprocess.run([str(harness())], input=b"".join(payload), capture_output=True, timeout=timeout)
        out, died = child.stdout, (f"native harness exited with {child.returncode}: "
                                   f"{child.stderr.decode(errors='replace').strip()}" if child.returncode else None)
    except subprocess.TimeoutExpired as e:
        out, died = e.stdout or b"", f"native harness timed out after {timeout} s"

    regs = inputs.registers.copy()
    mem = inputs.memory.copy()
    rflags = np.zeros(n, np.uint64)
    defined = np.zeros((n, 4), bool)
    executed = np.zeros(n, np.int64)
    faults: list = [died or "native harness died"] * n
    pos = 0
    for k in range(n):
        fixed = 16 * 8 + 8 + 4 * 8
        if pos + fixed > len(out):
            break
        regs[k] = np.frombuffer(out, "<u8", 16, pos)
        rflags[k] = np.frombuffer(out, "<u8", 1, pos + 128)[0]
        n_trace, kind, index, signal = np.frombuffer(out, "<i8", 4, pos + 136)
        pos += fixed
        if pos + 8 * n_trace + m > len(out):
            break
        trace = np.frombuffer(out, "<i8", n_trace, pos)
        pos += 8 * n_trace
        mem[k] = np.frombuffer(out, np.uint8, m, pos)
        pos += m
        if single_step:
            defined[k], bad = fl.replay(program, trace)
            executed[k] = n_trace
        else:
            bad, executed[k] = None, -1
        if bad is not None:  # the CPU gave the flag some value; our model says it has none
            faults[k] = fault_reason(UNDEFINED_FLAG, program, int(bad))
            executed[k] = list(trace).index(bad)
        elif kind == 1:
            faults[k] = fault_reason(BAD_MEMORY, program, int(index))
        elif kind == 2:
            faults[k] = fault_reason(f"{BAD_MEMORY} ({_SIGNALS.get(int(signal), f'signal {signal}')})",
                                     program, int(index))
        elif kind == 3:
            faults[k] = STEP_LIMIT
        else:
            faults[k] = None
    regs[:, 4] = STACK_TOP
    return Execution(regs, mem, fl.from_rflags(rflags), defined, executed, faults)
