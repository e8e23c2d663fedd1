"""The Task contract: everything every tool needs to know about one kernel.

A `Task` owns its search inputs, its vocabulary, its judges (pure JAX for the game, host-side
for any backend), its verification inputs, its C signature, its human references and C
baselines, its target lengths and its default game `Config`. Optional capabilities (shaping
potentials, dead-end checks, a verification battery) are explicit attributes: a rule or a
shaping term that needs one the task lacks is a one-line error when the game is built. Tools
(train, verify, bench, export) read only this contract, never a task's class or name.
"""
from __future__ import annotations

import abc
import dataclasses
from typing import Callable, Mapping, Optional, Sequence

import numpy as np

import isa
from games.config import Config

__all__ = ["Task", "Score", "Slot", "Param", "Signature", "Reference", "CReference", "StateFn",
           "Battery", "Check", "FamilyVerdict", "Verdict", "first_fault"]

# Pure JAX over a state's parts, ([I] machine, [S] loaded, [S] stored) -> []: a shaping
# potential (float32) or a dead-end check (bool, or int32 for stores_needed).
StateFn = Callable


@dataclasses.dataclass(frozen=True)
class Score:
    """How a whole program fares on a task's inputs.

    Attributes:
      correct: every input gives a correct output (for hash: quality within tolerance).
      n_correct: inputs whose output is entirely correct.
      n_inputs: inputs judged.
      items: weighted fraction of correct output items, in [0, 1] (what the game rewards).
      length: instructions in the program.
      executed: mean instructions executed per input.
      cycles: llvm-mca's cycles for one call, or None when not asked for.
      reason: why the program is not correct, else None.
    """
    correct: bool
    n_correct: int
    n_inputs: int
    items: float
    length: int
    executed: float
    cycles: Optional[int]
    reason: Optional[str]


@dataclasses.dataclass(frozen=True)
class Slot:
    """A 32-bit memory slot the vocabulary loads from or stores to: `dword ptr [rdi + 4*index]`."""
    index: int

    @property
    def mem(self) -> isa.Mem:
        return isa.Mem(32, "rdi", disp=4 * self.index)


# The System V argument registers in order, with GCC's constraint letter for each.
ARGUMENT_REGISTERS = ("rdi", "rsi", "rdx", "rcx")
CONSTRAINTS = {"rdi": "D", "rsi": "S", "rdx": "d", "rcx": "c"}


@dataclasses.dataclass(frozen=True)
class Param:
    """One C argument: its name, C type and the register that carries it. A pointer type
    points at the data region (`isa.Inputs.memory`); any other type is the register's value."""
    name: str
    ctype: str
    register: str

    def __post_init__(self):
        if self.register not in ARGUMENT_REGISTERS:
            raise ValueError(f"argument {self.name}: {self.register!r} is not one of {', '.join(ARGUMENT_REGISTERS)}")

    @property
    def pointer(self) -> bool:
        return self.ctype.rstrip().endswith("*")


@dataclasses.dataclass(frozen=True)
class Signature:
    """The kernel's C signature: `ctype name(params)`, the result (if any) in `result`."""
    params: tuple[Param, ...]
    ctype: str = "void"
    result: Optional[str] = None  # "rax" or "eax"

    def __post_init__(self):
        if tuple(p.register for p in self.params) != ARGUMENT_REGISTERS[:len(self.params)]:
            raise ValueError("arguments must come in the System V order: " + ", ".join(ARGUMENT_REGISTERS))
        pointers = [p.register for p in self.params if p.pointer]
        if pointers != ["rdi"]:
            # Every backend maps the data region at the address in rdi (isa.types).
            raise ValueError("a kernel takes exactly one pointer, its data region, as its first argument (rdi)")
        if (self.result is None) != (self.ctype == "void"):
            raise ValueError(f"a {self.ctype} kernel needs {'no' if self.ctype == 'void' else 'a'} result register")
        if self.result is not None and self.result not in ("rax", "eax"):
            raise ValueError(f"the result must be in rax or eax, not {self.result!r}")

    def declaration(self, name: str) -> str:
        return f"{_typed(self.ctype, name)}({', '.join(_typed(p.ctype, p.name) for p in self.params)})"


def _typed(ctype: str, name: str) -> str:
    return f"{ctype}{'' if ctype.endswith('*') else ' '}{name}"


@dataclasses.dataclass(frozen=True)
class Reference:
    """A human-written program for the task (the first is the one ratios are taken against)."""
    label: str
    program: isa.Program


@dataclasses.dataclass(frozen=True)
class CReference:
    """A C baseline for bench: `body` is the function body over the signature's parameter
    names, compiled with gcc -O3; `helpers` is C code placed before it."""
    label: str
    body: str
    helpers: str = ""


@dataclasses.dataclass(frozen=True)
class Check:
    """One figure a battery measures and the most it allows (lower is better)."""
    metric: str
    value: float
    allowed: float

    @property
    def passed(self) -> bool:
        return self.value <= self.allowed

    def text(self) -> str:
        return f"{self.metric} {_figure(self.value)} (at most {_figure(self.allowed)})"


def _figure(x: float) -> str:
    return f"{int(x)}" if float(x).is_integer() else f"{x:.4f}"


@dataclasses.dataclass(frozen=True)
class FamilyVerdict:
    """A battery's checks on one family of inputs."""
    name: str
    inputs: int
    checks: tuple[Check, ...]

    def line(self) -> str:
        failed = [c for c in self.checks if not c.passed]
        return (f"{self.name} ({self.inputs} inputs): {'FAILED' if failed else 'passed'}; "
                + "; ".join(c.text() for c in self.checks))


@dataclasses.dataclass(frozen=True)
class Verdict:
    """What a task's battery found: its checks family by family, or the input that faulted, and
    a sha256 of every result (what two backends must agree on)."""
    families: tuple[FamilyVerdict, ...]
    fault: Optional[str] = None
    outputs: str = ""

    @property
    def passed(self) -> bool:
        return self.reason is None

    @property
    def reason(self) -> Optional[str]:
        """The fault, or the worst failing check (the largest value over its allowance, the
        first of equals) as `family: metric value (at most allowed)`, with how many more fail;
        None when every check passes."""
        if self.fault:
            return self.fault
        failed = [(f.name, c) for f in self.families for c in f.checks if not c.passed]
        if not failed:
            return None
        name, check = max(failed, key=lambda fc: fc[1].value / fc[1].allowed if fc[1].allowed > 0 else np.inf)
        more = f" (and {len(failed) - 1} more failing figures)" if len(failed) > 1 else ""
        return f"{name}: {check.text()}{more}"

    def lines(self) -> list[str]:
        """One line per family."""
        return [f.line() for f in self.families] + ([f"fault: {self.fault}"] if self.fault else [])

    def to_dict(self) -> dict:
        """The verdict as JSON data (a record's `verification.battery`)."""
        return {"passed": self.passed, "reason": self.reason, **dataclasses.asdict(self)}

    @classmethod
    def from_dict(cls, data: dict) -> "Verdict":
        families = tuple(FamilyVerdict(f["name"], f["inputs"], tuple(Check(**c) for c in f["checks"]))
                         for f in data["families"])
        return cls(families, data.get("fault"), data.get("outputs", ""))


class Battery(abc.ABC):
    """An optional verification capability: inputs beyond the search-time ones on which a
    program's quality (not just its running without a fault) is judged, family by family.
    `alphadev verify` runs it on every backend after its other checks."""

    @abc.abstractmethod
    def run(self, program: isa.Program, backend: str, **options) -> Verdict:
        """Runs `program` on the battery with `isa.execute(..., backend, **options)` and judges it."""


class Task(abc.ABC):
    """Base of every task.

    Attributes:
      name: registry name (`sort3`, ...).
      inputs: search-time test inputs, `isa.Inputs` with I states.
      vocabulary: the instructions (and label moves) the game may play, see games/actions.py.
      registers: allocation order of the registers the vocabulary writes.
      entry_registers: registers defined at entry: the signature's arguments.
      slots: slot_key(mem) -> slot number of the plain loads and stores.
      slot_limits: [I] first slot each input may not touch, or None (all slots allowed).
      targets: [I, K] int32 values an observer may compare registers against, or None.
      signature: the C `Signature` (export, bench).
      references: human `Reference` programs (bench ratios; tests check they score correct).
      c_references: `CReference` baselines in C (bench).
      target_lengths: named lengths to beat or match, e.g. {"alphadev": 17, "human": 18}.
      config: the default game `Config`.
      mcpu: CPU model for llvm-mca.
      potentials: name -> pure JAX `StateFn` for reward shaping (`Config.shaping`).
      lost, stored_wrong: pure JAX dead-end checks ([] bool), or None (Rules.end_lost,
        Rules.end_stored_wrong need them).
      stores_needed: pure JAX, [] int32 stores the output still needs, or None
        (Rules.room_for_stores needs it).
      battery: a `Battery` verification runs besides the random inputs, or None.
    """
    name: str
    inputs: isa.Inputs
    vocabulary: Sequence
    registers: Sequence[str] = ()
    slots: Mapping = {}
    slot_limits: Optional[np.ndarray] = None
    targets: Optional[np.ndarray] = None
    signature: Signature
    references: Sequence[Reference] = ()
    c_references: Sequence[CReference] = ()
    target_lengths: Mapping[str, int] = {}
    config: Config = Config()
    mcpu: str = "skylake"
    potentials: Mapping[str, StateFn] = {}
    lost: Optional[StateFn] = None
    stored_wrong: Optional[StateFn] = None
    stores_needed: Optional[StateFn] = None
    battery: Optional[Battery] = None

    @property
    def entry_registers(self) -> tuple[str, ...]:
        return tuple(p.register for p in self.signature.params)

    @property
    def target_length(self) -> Optional[int]:
        """The length to reach: AlphaDev's where known, else the shortest named one."""
        lengths = self.target_lengths
        return lengths.get("alphadev", min(lengths.values(), default=None))

    @abc.abstractmethod
    def jax_judge(self, machine, outside):
        """Pure JAX: ([I] machine, [I] touched a forbidden slot) -> ([] items in [0, 1], [] correct)."""

    @abc.abstractmethod
    def assess(self, runs: Sequence[tuple[isa.Execution, isa.Inputs]]) -> tuple[float, int, Optional[str]]:
        """The host judge over `executions`: (items in [0, 1], inputs entirely correct, the
        reason the program is wrong or None). It must agree with `jax_judge`."""

    @abc.abstractmethod
    def random_inputs(self, n: int, seed: int) -> list[isa.Inputs]:
        """`n` random verification inputs in groups (one `isa.Inputs` per data-region size)."""

    def check(self, run: isa.Execution, inputs: isa.Inputs) -> Optional[str]:
        """Why `run` of `inputs` (any inputs, e.g. `random_inputs`) is wrong, or None. The
        default accepts any run without a fault (for tasks judged on quality, not outputs)."""
        return first_fault(run)

    def executions(self, program: isa.Program, backend: str) -> list[tuple[isa.Execution, isa.Inputs]]:
        """Runs the program on the inputs; tasks whose inputs differ in data size split them."""
        return [(isa.execute(program, self.inputs, backend), self.inputs)]

    def score(self, program: isa.Program, backend: str = "unicorn", *, cycles: bool = True) -> Score:
        """Judges a whole program (inside or outside the vocabulary) on `backend`.

        Args:
          program: any `isa.Program`.
          backend: "unicorn" (the reference), "jax" or "native".
          cycles: also ask llvm-mca for the cycle estimate.
        Returns:
          The `Score`; an incorrect program has a `reason`.
        """
        if not isinstance(program, isa.Program):
            raise TypeError(f"score takes an isa.Program, got {type(program).__name__}")
        runs = self.executions(program, backend)
        items, n_correct, reason = self.assess(runs)
        executed = np.concatenate([run.executed for run, _ in runs])
        return Score(correct=reason is None, n_correct=n_correct, n_inputs=len(executed), items=items,
                     length=len(program), executed=float(np.mean(executed)),
                     cycles=isa.latency.cycles(program, self.mcpu) if cycles and len(program) else (0 if cycles else None),
                     reason=reason)


def first_fault(run: isa.Execution) -> Optional[str]:
    for k, f in enumerate(run.fault):
        if f is not None:
            return f"input {k}: {f}"
    return None
