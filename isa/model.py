"""The program model: operands, instructions and programs as frozen, hashable values.

A `Program` is a kernel body. Jumps go forward only (so every program halts after at most
`len(program)` instructions) and name their target as an instruction index; label names are
kept only for printing and never take part in equality, so a program read back from machine
code equals the program that was assembled.
"""
from __future__ import annotations

import dataclasses
from typing import Optional, Union

__all__ = ["REGISTERS_64", "REGISTERS_32", "RSP", "RDI", "RESERVED", "CONDITIONS", "COND_ALIASES", "ALU",
           "SHIFTS", "UNARY", "CMOVS", "JCCS", "FORMS", "MNEMONICS", "ProgramError", "Reg", "Imm", "Mem",
           "Target", "Operand", "canonical_imm", "Instruction", "Program", "registers_used"]

REGISTERS_64 = ("rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi",
                "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15")
REGISTERS_32 = ("eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi",
                "r8d", "r9d", "r10d", "r11d", "r12d", "r13d", "r14d", "r15d")
RSP, RDI = 4, 7
# rsp belongs to the calling convention: a kernel body never names it.
RESERVED = frozenset({"rsp", "esp"})

CONDITIONS = ("l", "le", "g", "ge", "e", "ne", "b", "be", "a", "ae")
COND_ALIASES = {"nge": "l", "ng": "le", "nle": "g", "nl": "ge", "z": "e", "nz": "ne",
                "c": "b", "nae": "b", "na": "be", "nbe": "a", "nc": "ae", "nb": "ae"}
ALU = ("add", "sub", "and", "or", "xor", "cmp")
SHIFTS = ("shl", "shr", "sar", "rol", "ror")
UNARY = ("not", "neg")
CMOVS = tuple("cmov" + c for c in CONDITIONS)
JCCS = tuple("j" + c for c in CONDITIONS)

# Operand kinds per mnemonic: r register, i immediate, m memory, t jump target.
FORMS: dict[str, tuple[str, ...]] = {
    "mov": ("r,r", "r,i", "r,m", "m,r", "m,i"),
    "movabs": ("r,i",),
    **{op: ("r,r", "r,i", "r,m", "m,r", "m,i") for op in ALU},
    **{op: ("r,m", "r,r") for op in CMOVS},
    **{op: ("r", "m") for op in UNARY},
    **{op: ("r,i",) for op in SHIFTS},
    "imul": ("r,r", "r,m", "r,r,i", "r,m,i"),
    "mul": ("r", "m"),
    "lea": ("r,m",),
    **{op: ("t",) for op in JCCS},
    "jmp": ("t",),
}
MNEMONICS = tuple(FORMS)


class ProgramError(ValueError):
    """An instruction or program outside the supported subset."""


@dataclasses.dataclass(frozen=True)
class Reg:
    name: str

    def __post_init__(self):
        if self.name not in REGISTERS_64 and self.name not in REGISTERS_32:
            raise ProgramError(f"unknown register {self.name!r}")

    @property
    def number(self) -> int:
        """Index in encoding order (rax=0 ... r15=15)."""
        names = REGISTERS_64 if self.name in REGISTERS_64 else REGISTERS_32
        return names.index(self.name)

    @property
    def bits(self) -> int:
        return 64 if self.name in REGISTERS_64 else 32


@dataclasses.dataclass(frozen=True)
class Imm:
    value: int


@dataclasses.dataclass(frozen=True)
class Mem:
    """`bits ptr [base + index*scale + disp]`; bits is 0 for `lea`, which reads no memory."""
    bits: int
    base: str
    index: Optional[str] = None
    scale: int = 1
    disp: int = 0

    def __post_init__(self):
        if self.bits not in (0, 32, 64):
            raise ProgramError(f"memory operand size must be dword or qword, not {self.bits} bits")
        if self.base not in REGISTERS_64:
            raise ProgramError(f"memory base must be a 64-bit register, not {self.base!r}")
        if self.index is not None and (self.index not in REGISTERS_64 or self.index == "rsp"):
            raise ProgramError(f"bad memory index register {self.index!r}")
        if self.scale not in (1, 2, 4, 8):
            raise ProgramError(f"memory scale must be 1, 2, 4 or 8, not {self.scale}")
        if not -2**31 <= self.disp < 2**31:
            raise ProgramError(f"displacement {self.disp} does not fit in 32 bits")

    @property
    def size(self) -> int:
        return self.bits // 8


@dataclasses.dataclass(frozen=True)
class Target:
    """A forward jump target: the index of the instruction jumped to (len(program) = the end)."""
    index: int


Operand = Union[Reg, Imm, Mem, Target]


def _kind(op: Operand) -> str:
    return {Reg: "r", Imm: "i", Mem: "m", Target: "t"}[type(op)]


def canonical_imm(mnemonic: str, bits: int, value: int) -> int:
    """The one stored value of an immediate (so that text and machine code round-trip).

    Immediates are kept signed, as the CPU sign-extends them, except shift counts (an unsigned
    byte) and `movabs` (an unsigned 64-bit constant, printed in hex).
    """
    if mnemonic in SHIFTS:
        if not 0 <= value < 256:
            raise ProgramError(f"shift count {value} is not a byte")
        return value
    if mnemonic == "movabs":
        if not -2**63 <= value < 2**64:
            raise ProgramError(f"immediate {value} does not fit in 64 bits")
        return value % 2**64
    if bits == 32 and 2**31 <= value < 2**32:
        value -= 2**32  # `mov eax, 0xffffffff` is `mov eax, -1`
    if not -2**31 <= value < 2**31:
        hint = "; use movabs" if mnemonic == "mov" else ""
        raise ProgramError(f"immediate {value} does not fit in a sign-extended 32-bit field{hint}")
    return value


@dataclasses.dataclass(frozen=True)
class Instruction:
    mnemonic: str
    operands: tuple[Operand, ...] = ()

    def __post_init__(self):
        m = self.mnemonic
        if m not in FORMS:
            raise ProgramError(f"instruction {m!r} is outside the supported subset")
        form = ",".join(_kind(op) for op in self.operands)
        if form not in FORMS[m]:
            raise ProgramError(f"{m} does not take operands {form!r} (forms: {' | '.join(FORMS[m])})")
        regs = [op for op in self.operands if isinstance(op, Reg)]
        for op in self.operands:
            names = [op.name] if isinstance(op, Reg) else [op.base, op.index] if isinstance(op, Mem) else []
            if any(n in RESERVED for n in names):
                raise ProgramError(f"{m} uses rsp, which a kernel body may not touch")
        widths = {r.bits for r in regs} | {op.bits for op in self.operands if isinstance(op, Mem) and op.bits}
        if len(widths) > 1:
            raise ProgramError(f"{m}: operand sizes differ")
        if m == "lea" and regs and any(isinstance(op, Mem) and op.bits for op in self.operands):
            raise ProgramError("lea takes an address without a size")
        if m != "lea" and any(isinstance(op, Mem) and not op.bits for op in self.operands):
            raise ProgramError(f"{m}: memory operand needs a size (dword ptr or qword ptr)")
        if m == "movabs" and self.bits != 64:
            raise ProgramError("movabs needs a 64-bit register")
        fixed = tuple(Imm(canonical_imm(m, self.bits, op.value)) if isinstance(op, Imm) else op
                      for op in self.operands)
        object.__setattr__(self, "operands", fixed)

    @property
    def form(self) -> str:
        return ",".join(_kind(op) for op in self.operands)

    @property
    def bits(self) -> int:
        """Operand size: 32 or 64 (jumps: 64)."""
        for op in self.operands:
            if isinstance(op, Reg):
                return op.bits
            if isinstance(op, Mem) and op.bits:
                return op.bits
        return 64

    @property
    def memory(self) -> Optional[Mem]:
        return next((op for op in self.operands if isinstance(op, Mem)), None)

    @property
    def target(self) -> Optional[int]:
        return next((op.index for op in self.operands if isinstance(op, Target)), None)


@dataclasses.dataclass(frozen=True)
class Program:
    """A kernel body: instructions in order, forward jumps by target index.

    `labels` maps instruction indices to names for printing; it is not part of equality.
    """
    instructions: tuple[Instruction, ...]
    labels: tuple[tuple[int, str], ...] = dataclasses.field(default=(), compare=False, hash=False)

    def __post_init__(self):
        object.__setattr__(self, "instructions", tuple(self.instructions))
        n = len(self.instructions)
        for pos, ins in enumerate(self.instructions):
            if not isinstance(ins, Instruction):
                raise ProgramError(f"item {pos} is not an Instruction: {ins!r}")
            t = ins.target
            if t is not None and not pos < t <= n:
                raise ProgramError(f"instruction {pos} ({ins.mnemonic}) jumps to {t}: jumps must go "
                                   f"forward, to an instruction after it or the end ({n})")

    def __len__(self) -> int:
        return len(self.instructions)

    def __iter__(self):
        return iter(self.instructions)

    def __getitem__(self, i):
        return self.instructions[i]

    def label_names(self) -> dict[int, str]:
        """A name for every jump target: the given one, else `.L<index>`."""
        given = dict(self.labels)
        return {t: given.get(t, f".L{t}") for t in sorted({i.target for i in self if i.target is not None})}


def registers_used(ins: Instruction) -> tuple[set, set]:
    """(register numbers read, register numbers written) by an instruction."""
    reads, writes = set(), set()
    ops = ins.operands
    m = ins.mnemonic
    for k, op in enumerate(ops):
        if isinstance(op, Mem):
            reads.add(REGISTERS_64.index(op.base))
            if op.index:
                reads.add(REGISTERS_64.index(op.index))
        elif isinstance(op, Reg):
            is_dst = k == 0 and m not in ("cmp", "mul")
            if is_dst:
                writes.add(op.number)
                if m not in ("mov", "movabs", "lea") and not (m == "imul" and len(ops) == 3):
                    reads.add(op.number)  # read-modify-write (cmov keeps the old value too)
            else:
                reads.add(op.number)
    if m == "mul":
        reads.add(0)
        writes.update({0, 2})
    return reads, writes
