"""Per-instruction scheduling data from LLVM's model of a CPU: the numbers llvm-mca uses.

For every instruction form of the ISA (and every form in the games' vocabularies) the data file
`isa/data/schedule-MCPU.json` holds llvm-mca's latency, micro-ops and reciprocal throughput
(`-instruction-info`) and the resources its micro-ops use: the per-port pressure of the form
repeated alone 120 times (a multiple of every port group's size), over which llvm-mca spreads
each micro-op evenly within its group. Nothing in it is typed by hand except the branch
misprediction penalty, which llvm-mca does not print: it is copied, with its source, from the
CPU's `SchedMachineModel` in LLVM's TableGen file.

Why a data file checked into the repository rather than extraction when a game is built: a
game's rewards must depend neither on llvm-mca being installed (the search may run where LLVM
is not) nor on its version (the same game must give the same rewards everywhere); the file
records the LLVM version that wrote it. Regenerate it with `python -m games.regenerate_schedule`
(games/regenerate_schedule.py); a test re-extracts a sample and compares it when the same
llvm-mca is present.

A form is an instruction with its registers renamed in order of first use and its immediate
and displacement replaced by a stand-in (`canonical`): llvm-mca's figures depend only on the
opcode, on whether two register operands are the same (`xor eax, eax` is a zero idiom: no
execution port, no latency) and on a shift count of 1 (a different opcode).
"""
from __future__ import annotations

import concurrent.futures
import dataclasses
import functools
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Iterable

import numpy as np

from isa import flags as fl
from isa.model import FORMS, REGISTERS_32, REGISTERS_64, SHIFTS, Imm, Instruction, Mem, Reg, Target, registers_used
from isa.syntax import format_instruction

__all__ = ["Form", "Schedule", "Dependencies", "canonical", "form_key", "dependencies", "load", "available",
           "extract", "isa_forms", "mca_binary", "McaUnavailable", "DATA"]

DATA = Path(__file__).parent / "data"
# Registers a canonical form uses, in order of first use: never rsp, nor rbp (whose use as a
# base changes the encoding, not the schedule).
_CANONICAL_REGISTERS = (0, 1, 2, 3, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15)


@dataclasses.dataclass(frozen=True)
class Form:
    """llvm-mca's figures for one instruction form.

    Attributes:
      latency: cycles from issue until the result (register, flags or memory) is ready.
      uops: micro-ops.
      rthroughput: reciprocal throughput in cycles (one form repeated, independent).
      pressure: resource name -> cycles per execution (micro-ops spread over their ports).
    """
    latency: int
    uops: int
    rthroughput: float
    pressure: dict


@dataclasses.dataclass(frozen=True)
class Schedule:
    """A CPU's scheduling data.

    Attributes:
      mcpu: the LLVM CPU name.
      llvm: the llvm-mca version that extracted it.
      dispatch_width: micro-ops dispatched per cycle.
      mispredict_penalty: cycles lost to a mispredicted branch (`MispredictPenalty`).
      mispredict_source: where that figure comes from.
      resources: resource names (llvm-mca's order).
      forms: form key (`form_key`) -> `Form`.
    """
    mcpu: str
    llvm: str
    dispatch_width: int
    mispredict_penalty: int
    mispredict_source: str
    resources: tuple
    forms: dict

    def form(self, ins: Instruction) -> Form:
        """The `Form` of `ins`. Raises ValueError, in one line, for a form without data."""
        key = form_key(ins)
        if key not in self.forms:
            raise ValueError(f"isa/data/schedule-{self.mcpu}.json has no data for {key!r} "
                             f"(regenerate it: python -m games.regenerate_schedule --mcpu {self.mcpu})")
        return self.forms[key]

    @functools.cached_property
    def groups(self) -> tuple[frozenset, ...]:
        """The port groups micro-ops go to: sets of resources that share a form's pressure
        evenly (a micro-op spread over k ports puts 1/k of a cycle on each)."""
        found = set()
        for form in self.forms.values():
            found.update(_groups(form.pressure).keys())
        return tuple(sorted(found, key=lambda g: (len(g), sorted(g))))

    def group_uops(self, ins: Instruction) -> np.ndarray:
        """[G] cycles `ins` puts on each group of `groups`."""
        self.form(ins)
        return self._group_table[form_key(ins)]

    @functools.cached_property
    def _group_table(self) -> dict:
        out = {}
        for key, form in self.forms.items():
            by_group = _groups(form.pressure)
            out[key] = np.array([by_group.get(g, 0.0) for g in self.groups])
        return out

    @functools.cached_property
    def subgroups(self) -> tuple[np.ndarray, np.ndarray]:
        """([G, G] bool: group h lies inside group g, [G] sizes): the micro-ops queued for the
        ports of g, over |g|, is the earliest cycle the next one on g can start."""
        within = np.array([[h <= g for g in self.groups] for h in self.groups], bool)
        return within, np.array([len(g) for g in self.groups], np.float64)

    @functools.cached_property
    def port_sets(self) -> tuple[np.ndarray, np.ndarray]:
        """([G, C] bool, [C]) every union of groups, as which groups lie inside it and its size:
        the work inside a set of k ports takes at least (its cycles) / k cycles."""
        unions = {frozenset()}
        for g in self.groups:
            unions |= {u | g for u in unions}
        unions = sorted((u for u in unions if u), key=lambda u: (len(u), sorted(u)))
        inside = np.array([[g <= u for u in unions] for g in self.groups], bool).reshape(len(self.groups), -1)
        return inside, np.array([len(u) for u in unions], np.float64)


def _groups(pressure: dict) -> dict:
    """frozenset of resources -> cycles: a form's pressure split into groups of resources that
    carry the same share (one micro-op class spreads evenly over its group)."""
    by_share: dict = {}
    for name, cycles in pressure.items():
        by_share.setdefault(round(cycles, 2), []).append(name)
    # Resource cycles are whole numbers in LLVM's models; llvm-mca prints the shares rounded
    # (a micro-op over three ports shows 0.33 on each).
    return {frozenset(names): float(round(share * len(names))) for share, names in by_share.items()}


@dataclasses.dataclass(frozen=True)
class Dependencies:
    """What an instruction waits for and what it produces.

    Attributes:
      reads, writes: register numbers.
      flags_read, flags_written: flag numbers (`isa.flags`); written includes left undefined.
      loads, stores: memory addresses (base, index, scale, disp) read / written.
    """
    reads: frozenset
    writes: frozenset
    flags_read: frozenset
    flags_written: frozenset
    loads: frozenset
    stores: frozenset


def address(mem: Mem) -> tuple:
    """A memory operand's address, whatever the access size."""
    return (mem.base, mem.index, mem.scale, mem.disp)


def zero_idiom(ins: Instruction) -> bool:
    """`xor r, r` or `sub r, r`: the result is 0 whatever r held, so it waits for nothing."""
    ops = ins.operands
    return (ins.mnemonic in ("xor", "sub") and len(ops) == 2 and isinstance(ops[0], Reg)
            and ops[0] == ops[1])


@functools.lru_cache(maxsize=65536)
def dependencies(ins: Instruction) -> Dependencies:
    """The registers, flags and memory `ins` reads and writes (a jump reads its flags only)."""
    m, ops = ins.mnemonic, ins.operands
    reads, writes = registers_used(ins)
    loads, stores = set(), set()
    for k, op in enumerate(ops):
        if isinstance(op, Mem) and m != "lea":
            is_dst = k == 0 and m not in ("cmp", "mul")
            if is_dst:
                stores.add(address(op))
            if not is_dst or m not in ("mov",):
                loads.add(address(op))  # a source, or read-modify-write
    if zero_idiom(ins):
        reads.clear()
    fset, fundef = fl.flags_written(ins)
    return Dependencies(frozenset(reads), frozenset(writes), fl.flags_read(ins), fset | fundef,
                        frozenset(loads), frozenset(stores))


def canonical(ins: Instruction) -> Instruction:
    """`ins` with registers renamed in order of first use, immediates and displacements replaced
    by stand-ins that keep the opcode (a shift count of 1 stays 1), jump targets by 0."""
    renamed: dict[int, int] = {}

    def number(n: int) -> int:
        return renamed.setdefault(n, _CANONICAL_REGISTERS[len(renamed)])

    ops = []
    for op in ins.operands:
        if isinstance(op, Reg):
            names = REGISTERS_64 if op.bits == 64 else REGISTERS_32
            ops.append(Reg(names[number(op.number)]))
        elif isinstance(op, Mem):
            base = REGISTERS_64[number(REGISTERS_64.index(op.base))]
            index = REGISTERS_64[number(REGISTERS_64.index(op.index))] if op.index else None
            ops.append(Mem(op.bits, base, index, op.scale, 8 if op.disp else 0))
        elif isinstance(op, Imm):
            if ins.mnemonic in SHIFTS:
                count = op.value & (63 if ins.bits == 64 else 31)
                ops.append(Imm(1 if count == 1 else 2))
            else:
                ops.append(Imm(2))
        else:
            ops.append(Target(0))
    return Instruction(ins.mnemonic, tuple(ops))


@functools.lru_cache(maxsize=65536)
def form_key(ins: Instruction) -> str:
    """The data file's key of `ins`: its canonical form as text (a jump: its mnemonic)."""
    if ins.target is not None:
        return ins.mnemonic
    return format_instruction(canonical(ins))


def isa_forms() -> list[Instruction]:
    """One canonical instruction per form of the ISA, both widths, with distinct and with
    equal registers, and shift counts 1 and 2."""
    out = []
    for m, forms in FORMS.items():
        for form in forms:
            kinds = form.split(",")
            if kinds == ["t"]:
                out.append(Instruction(m, (Target(0),)))
                continue
            for bits in (32, 64):
                if m == "movabs" and bits == 32:
                    continue
                names = REGISTERS_64 if bits == 64 else REGISTERS_32
                for same in (False, True):
                    if same and kinds.count("r") < 2:
                        continue
                    for count in ((1, 2) if m in SHIFTS else (2,)):
                        regs = iter([0, 0, 0] if same else [0, 1, 2])
                        ops = []
                        for kind in kinds:
                            if kind == "r":
                                ops.append(Reg(names[next(regs)]))
                            elif kind == "i":
                                ops.append(Imm(count))
                            else:
                                ops.append(Mem(0 if m == "lea" else bits, "rdi", disp=8))
                        out.append(canonical(Instruction(m, tuple(ops))))
    return out


# ---- extraction (needs llvm-mca) --------------------------------------------------------------

class McaUnavailable(RuntimeError):
    """llvm-mca is not installed (Debian/Ubuntu: apt-get install llvm)."""


@functools.lru_cache(maxsize=1)
def mca_binary() -> str:
    """The llvm-mca on PATH. Raises McaUnavailable when there is none."""
    for name in ("llvm-mca", *(f"llvm-mca-{v}" for v in range(20, 12, -1))):
        if shutil.which(name):
            return name
    raise McaUnavailable("llvm-mca not found: install LLVM (apt-get install llvm)")


def _mca_text(instructions: Iterable[Instruction]) -> str:
    lines = [f"{ins.mnemonic} .Lend" if ins.target is not None else format_instruction(ins)
             for ins in instructions]
    return ".intel_syntax noprefix\n" + "\n".join(lines) + "\n.Lend:\n"


def _run_mca(text: str, mcpu: str, *args: str) -> str:
    run = subprocess.run([mca_binary(), f"-mcpu={mcpu}", "-mtriple=x86_64-unknown-linux-gnu", *args],
                         input=text, capture_output=True, text=True)
    if run.returncode:
        raise ValueError(f"llvm-mca failed for -mcpu={mcpu}: {run.stderr.strip().splitlines()[-1]}")
    return run.stdout


def _pressure(ins: Instruction, mcpu: str) -> tuple[tuple, dict]:
    """(resource names, {resource: cycles}) of `ins` repeated alone."""
    out = _run_mca(_mca_text([ins]), mcpu, "-iterations=120", "-resource-pressure", "-instruction-info=false")
    names = tuple(re.findall(r"^\[\d+\]\s+-\s+(\S+)$", out, re.M))
    row = out.split("Resource pressure per iteration:")[1].splitlines()[2].split()
    return names, {name: float(v) for name, v in zip(names, row) if v != "-"}


def extract(instructions: Iterable[Instruction], mcpu: str) -> tuple[dict, dict]:
    """llvm-mca's data for `instructions` (canonical forms).

    Returns:
      ({form key: Form fields}, {"llvm", "dispatch_width", "resources"}).
    """
    instructions = list({form_key(i): i for i in instructions}.values())
    out = _run_mca(_mca_text(instructions), mcpu, "-iterations=1", "-instruction-info")
    rows = out.split("Instructions:\n", 1)[1].splitlines()[:len(instructions)]
    forms = {}
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        pressures = list(pool.map(lambda i: _pressure(i, mcpu), instructions))
    for ins, row, (_, pressure) in zip(instructions, rows, pressures):
        uops, latency, rthroughput = row.split()[:3]
        forms[form_key(ins)] = dict(latency=int(latency), uops=int(uops), rthroughput=float(rthroughput),
                                    pressure=pressure)
    version = subprocess.run([mca_binary(), "--version"], capture_output=True, text=True).stdout
    meta = dict(llvm=re.search(r"LLVM version \S+", version).group(0),
                dispatch_width=int(re.search(r"^Dispatch Width:\s+(\d+)", out, re.M).group(1)),
                resources=list(pressures[0][0]))
    return forms, meta


@functools.lru_cache(maxsize=8)
def load(mcpu: str = "skylake") -> Schedule:
    """The `Schedule` of `mcpu` from its data file. Raises ValueError, in one line, for a CPU
    without one."""
    path = DATA / f"schedule-{mcpu}.json"
    if not path.exists():
        raise ValueError(f"no scheduling data for mcpu {mcpu!r} (have: {', '.join(available()) or 'none'}; "
                         f"generate it: python -m games.regenerate_schedule --mcpu {mcpu} --mispredict-penalty N)")
    raw = json.loads(path.read_text())
    forms = {key: Form(**fields) for key, fields in raw["forms"].items()}
    return Schedule(mcpu=raw["mcpu"], llvm=raw["llvm"], dispatch_width=raw["dispatch_width"],
                    mispredict_penalty=raw["mispredict_penalty"], mispredict_source=raw["mispredict_source"],
                    resources=tuple(raw["resources"]), forms=forms)


def available() -> list[str]:
    """The CPUs with a data file."""
    return sorted(p.stem.removeprefix("schedule-") for p in DATA.glob("schedule-*.json"))
