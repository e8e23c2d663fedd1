"""The reference backend: the Unicorn CPU emulator.

One long-lived `Uc` per process (creating one costs milliseconds), reset for every input. A
code hook records the path each input takes (for `executed` and for flag definedness, from
`isa.flags`) and checks every memory operand against the exact data region before the access,
so an access one byte past it faults here as it does in JAX and natively. Nothing a program does
raises: every fault becomes a reason in `Execution.fault`.
"""
from __future__ import annotations

import functools

import numpy as np
import unicorn
from unicorn import x86_const as X

from isa import flags as fl
from isa.encoding import assemble, offsets
from isa.model import REGISTERS_64, Program
from isa.syntax import fault_reason
from isa.types import (BAD_MEMORY, DATA_BASE, MAX_DATA, STACK_TOP, STEP_LIMIT, UNDEFINED_FLAG,
                       Execution, Inputs)

CODE_BASE = 0x400000
CODE_SIZE = 0x100000
STACK_SIZE = 0x10000
_REGS = [X.UC_X86_REG_RAX, X.UC_X86_REG_RCX, X.UC_X86_REG_RDX, X.UC_X86_REG_RBX,
         X.UC_X86_REG_RSP, X.UC_X86_REG_RBP, X.UC_X86_REG_RSI, X.UC_X86_REG_RDI,
         X.UC_X86_REG_R8, X.UC_X86_REG_R9, X.UC_X86_REG_R10, X.UC_X86_REG_R11,
         X.UC_X86_REG_R12, X.UC_X86_REG_R13, X.UC_X86_REG_R14, X.UC_X86_REG_R15]


def _access(ins):
    """(base, index, scale, disp, size) of the memory an instruction reads or writes, else None."""
    mem = ins.memory
    if mem is None or ins.mnemonic == "lea":
        return None
    reg = lambda name: _REGS[REGISTERS_64.index(name)]
    return reg(mem.base), reg(mem.index) if mem.index else None, mem.scale, mem.disp, mem.size


class _Run:
    """What the hooks see of the input in flight."""

    def __init__(self):
        self.program = None
        self.index = {}
        self.data_end = DATA_BASE
        self.reset()

    def reset(self):
        self.trace = []
        self.taken = []  # per instruction in `trace`: a jump that was taken
        self.defined = [False] * 4
        self.fault = None


class _Emulator:
    def __init__(self):
        uc = unicorn.Uc(unicorn.UC_ARCH_X86, unicorn.UC_MODE_64)
        uc.mem_map(CODE_BASE, CODE_SIZE, unicorn.UC_PROT_READ | unicorn.UC_PROT_EXEC)
        uc.mem_map(DATA_BASE, MAX_DATA)
        uc.mem_map(STACK_TOP - STACK_SIZE // 2, STACK_SIZE)
        self.uc, self.run = uc, _Run()
        uc.hook_add(unicorn.UC_HOOK_CODE, self._on_code, begin=CODE_BASE, end=CODE_BASE + CODE_SIZE - 1)

    def _on_code(self, uc, address, size, _):
        run = self.run
        i = run.index.get(address)
        if i is None:  # the end of the body: emu_start's `until` stops here
            return
        ins = run.program[i]
        if any(not run.defined[f] for f in fl.flags_read(ins)):
            run.fault = fault_reason(UNDEFINED_FLAG, run.program, i)
            uc.emu_stop()
            return
        run.trace.append(i)
        if ins.target is not None:
            cond = fl.condition(ins)
            run.taken.append(cond is None or fl.holds(cond, fl.from_rflags([uc.reg_read(X.UC_X86_REG_RFLAGS)])[0]))
        else:
            run.taken.append(False)
        access = run.access[i]
        if access is not None:
            # Checked here from the registers rather than in a memory hook: Unicorn folds a
            # non-canonical address (bit 63 set) back into the mapped page and reports no fault.
            base, index, scale, disp, size = access
            ea = uc.reg_read(base) + disp + (uc.reg_read(index) * scale if index is not None else 0)
            if not DATA_BASE <= ea % 2**64 <= run.data_end - size:
                run.fault = fault_reason(BAD_MEMORY, run.program, i)
                uc.emu_stop()
                return
        set_, undef = fl.flags_written(ins)
        for f in set_:
            run.defined[f] = True
        for f in undef:
            run.defined[f] = False

    def load(self, program: Program) -> int:
        code = assemble(program)
        if len(code) >= CODE_SIZE:
            raise ValueError(f"program of {len(code)} bytes is too long for the emulator")
        self.uc.mem_write(CODE_BASE, code + b"\xf4")  # hlt after the end: never reached
        self.uc.ctl_remove_cache(CODE_BASE, CODE_BASE + len(code) + 1)
        self.run.program = program
        self.run.index = {CODE_BASE + off: i for i, off in enumerate(offsets(code))}
        self.run.access = [_access(ins) for ins in program]
        return len(code)

    def execute(self, program: Program, inputs: Inputs, step_limit: int, paths: list | None = None) -> Execution:
        uc, run = self.uc, self.run
        size = self.load(program)
        end = CODE_BASE + size
        n, m = len(inputs), inputs.data_size
        run.data_end = DATA_BASE + m
        regs_out = np.zeros((n, 16), np.uint64)
        mem_out = np.zeros((n, m), np.uint8)
        rflags = np.zeros(n, np.uint64)
        defined = np.zeros((n, 4), bool)
        executed = np.zeros(n, np.int64)
        faults = []
        for k in range(n):
            run.reset()
            uc.mem_write(DATA_BASE, inputs.memory[k].tobytes())
            for reg, value in zip(_REGS, inputs.registers[k]):
                uc.reg_write(reg, int(value))
            uc.reg_write(X.UC_X86_REG_RFLAGS, 0x2)
            try:
                uc.emu_start(CODE_BASE, end, count=step_limit)
            except unicorn.UcError as e:
                if run.fault is None:
                    last = run.trace[-1] if run.trace else -1
                    run.fault = fault_reason(BAD_MEMORY if "MEM" in str(e).upper() or "UNMAPPED" in str(e).upper()
                                             else f"emulator error ({e})", program, last)
            if run.fault is None and uc.reg_read(X.UC_X86_REG_RIP) != end:
                run.fault = STEP_LIMIT
            regs_out[k] = [uc.reg_read(r) for r in _REGS]
            mem_out[k] = np.frombuffer(bytes(uc.mem_read(DATA_BASE, m)), np.uint8)
            rflags[k] = uc.reg_read(X.UC_X86_REG_RFLAGS)
            defined[k] = run.defined
            executed[k] = len(run.trace)
            if paths is not None:
                paths.append((tuple(run.trace), tuple(run.taken)))
            faults.append(run.fault)
        regs_out[:, 4] = STACK_TOP
        return Execution(regs_out, mem_out, fl.from_rflags(rflags), defined, executed, faults)


@functools.lru_cache(maxsize=1)
def _emulator() -> _Emulator:
    return _Emulator()


def execute(program: Program, inputs: Inputs, *, step_limit: int = 10_000) -> Execution:
    """Runs `program` on every input in Unicorn.

    Args:
      program: the `Program`.
      inputs: `Inputs` with I states.
      step_limit: instructions after which an input is stopped and faulted. Forward jumps
        cannot loop, so a valid program never reaches it; it guards the emulator all the same.
    Returns:
      An `Execution`.
    """
    return _emulator().execute(program, inputs, step_limit)


def paths(program: Program, inputs: Inputs, *, step_limit: int = 10_000) -> list[tuple[tuple, tuple]]:
    """The path each input takes through `program` in Unicorn.

    Returns:
      Per input, (indices of the instructions executed in order, whether each was a jump
      taken), as `Execution.executed` counts them (an instruction that faults on memory
      counts, one that reads an undefined flag does not).
    """
    out: list = []
    _emulator().execute(program, inputs, step_limit, out)
    return out
