"""Intel-syntax text: `parse` reads what GNU `as` accepts after `.intel_syntax noprefix`,
`to_text` writes one instruction per line. `parse(to_text(p)) == p` always."""
from __future__ import annotations

import re

from isa.model import (COND_ALIASES, MNEMONICS, REGISTERS_32, REGISTERS_64, Imm,
                       Instruction, Mem, Program, ProgramError, Reg, Target)

__all__ = ["ParseError", "parse", "to_text", "format_instruction", "format_operand", "fault_reason"]

_LABEL = re.compile(r"^([.A-Za-z_$][\w.$]*)\s*:")
_SIZES = {"dword": 32, "qword": 64}
_TERM = re.compile(r"\s*([+-]?)\s*([^+\-\s]+)")
# 8- and 16-bit registers: real x86 names the subset leaves out (say so, not "not a number").
_NARROW = re.compile(r"^([abcd][lhx]|[sd]il?|[sb]pl?|si|di|r(?:[89]|1[0-5])[bwl])$")


class ParseError(ValueError):
    """A line that is not an instruction of the subset; names the line and the problem."""

    def __init__(self, line_no: int, line: str, problem: str):
        super().__init__(f"line {line_no}: {line.strip()!r}: {problem}")
        self.line_no, self.line, self.problem = line_no, line, problem


def _canonical_mnemonic(word: str) -> str:
    word = word.lower()
    for prefix in ("cmov", "j"):
        if word.startswith(prefix) and word[len(prefix):] in COND_ALIASES:
            return prefix + COND_ALIASES[word[len(prefix):]]
    return word


def _number(text: str, expected: str = "a number") -> int:
    """`text` as an integer (decimal, 0x hex, 0o, 0b); else a ProgramError naming what was expected."""
    try:
        return int(text, 0)
    except ValueError:
        if _NARROW.match(text.lower()):
            raise ProgramError(f"{text!r}: 8- and 16-bit registers are outside the subset "
                               "(use a 32- or 64-bit register)") from None
        raise ProgramError(f"{text!r}: expected {expected}") from None


def _memory(text: str, bits: int) -> Mem:
    body = text.strip()
    if not (body.startswith("[") and body.endswith("]")):
        raise ProgramError(f"bad memory operand {text!r}")
    base = index = None
    scale, disp = 1, 0
    inner = body[1:-1].replace(" ", "")
    pos = 0
    while pos < len(inner):
        m = _TERM.match(inner, pos)
        if not m:
            raise ProgramError(f"bad memory operand {text!r}")
        sign, term = m.group(1) or "+", m.group(2).lower()
        pos = m.end()
        reg, _, factor = term.partition("*")
        if reg in REGISTERS_64:
            if sign == "-":
                raise ProgramError(f"a register cannot be subtracted in {text!r}")
            if factor or base is not None:
                if index is not None:
                    raise ProgramError(f"too many registers in {text!r}")
                index, scale = reg, _number(factor, "a scale (1, 2, 4 or 8)") if factor else 1
            else:
                base = reg
        elif reg in REGISTERS_32:
            raise ProgramError(f"addresses use 64-bit registers, not {reg!r}")
        else:
            number = _number(term, f"a 64-bit register or a displacement in {text!r}")
            disp += -number if sign == "-" else number
    if base is None:
        raise ProgramError(f"memory operand {text!r} has no base register")
    return Mem(bits, base, index, scale, disp)


def _operand(text: str, mnemonic: str, labels: dict[str, int] | None):
    t = text.strip()
    low = t.lower()
    if mnemonic.startswith("j"):
        if labels is None or t not in labels:
            raise ProgramError(f"unknown label {t!r}")
        return Target(labels[t])
    if low in REGISTERS_64 or low in REGISTERS_32:
        return Reg(low)
    size = re.match(r"^(\w+)\s+ptr\s+(.*)$", low)
    if size:
        if size.group(1) not in _SIZES:
            raise ProgramError(f"operand size {size.group(1)!r} is not dword or qword")
        return _memory(size.group(2), _SIZES[size.group(1)])
    if low.startswith("["):
        return _memory(low, 0)  # size inferred from the register operand below
    return Imm(_number(low, "a 32- or 64-bit register, a memory operand or a number"))


def _instruction(text: str, labels: dict[str, int] | None) -> Instruction:
    word, _, rest = text.strip().partition(" ")
    mnemonic = _canonical_mnemonic(word)
    if mnemonic not in MNEMONICS:
        raise ProgramError(f"instruction {word!r} is outside the supported subset")
    ops = [_operand(o, mnemonic, labels) for o in rest.split(",")] if rest.strip() else []
    if mnemonic != "lea":  # GNU as takes the size of `[...]` from the register operand
        width = next((o.bits for o in ops if isinstance(o, Reg)), 0)
        for i, o in enumerate(ops):
            if isinstance(o, Mem) and not o.bits:
                if not width:
                    raise ProgramError("memory operand needs a size (dword ptr or qword ptr)")
                ops[i] = Mem(width, o.base, o.index, o.scale, o.disp)
    return Instruction(mnemonic, tuple(ops))


def _strip(line: str) -> str:
    for mark in ("#", ";", "//"):
        line = line.split(mark, 1)[0]
    return line.strip()


def parse(text: str) -> Program:
    """Reads an Intel-syntax kernel body.

    Args:
      text: instructions one per line; `name:` labels (forward jump targets, one may stand at
        the end); comments after `#`, `;` or `//`; assembler directives (`.intel_syntax`) are
        skipped.
    Returns:
      The `Program`.
    Raises:
      ParseError: naming the line (1-based, as numbered in `text`), the line itself and what is
        wrong with it.
    """
    lines = []  # (line_no, raw, instruction text)
    labels: dict[str, int] = {}
    for no, raw in enumerate(text.splitlines(), 1):
        line = _strip(raw)
        while (m := _LABEL.match(line)):
            if m.group(1) in labels:
                raise ParseError(no, raw, f"label {m.group(1)!r} defined twice")
            labels[m.group(1)] = len(lines)
            line = line[m.end():].strip()
        if not line or line.startswith("."):  # empty, or a directive such as .intel_syntax
            continue
        lines.append((no, raw, line))
    instructions = []
    for no, raw, line in lines:
        try:
            ins = _instruction(line, labels)
        except ProgramError as e:
            raise ParseError(no, raw, str(e)) from None
        if ins.target is not None and ins.target <= len(instructions):  # as Program requires
            label = next(name for name, i in labels.items() if i == ins.target)
            raise ParseError(no, raw, f"jump back to {label!r}: jumps must go forward, to a label after them")
        instructions.append(ins)
    return Program(tuple(instructions), tuple((i, name) for name, i in labels.items()))


def format_operand(op, labels: dict[int, str]) -> str:
    if isinstance(op, Reg):
        return op.name
    if isinstance(op, Target):
        return labels[op.index]
    if isinstance(op, Imm):
        v = op.value
        return str(v) if -10 < v < 10 else (f"-{-v:#x}" if v < 0 else f"{v:#x}")
    address = op.base + (f"+{op.index}" + (f"*{op.scale}" if op.scale != 1 else "") if op.index else "")
    if op.disp:
        address += f"{op.disp:+d}"
    size = {0: "", 32: "dword ptr ", 64: "qword ptr "}[op.bits]
    return f"{size}[{address}]"


def format_instruction(ins: Instruction, labels: dict[int, str] | None = None) -> str:
    labels = labels if labels is not None else {}
    ops = ", ".join(format_operand(o, labels) for o in ins.operands)
    return f"{ins.mnemonic} {ops}".strip()


def to_text(program: Program) -> str:
    """Writes Intel syntax, one instruction per line, labels on lines of their own."""
    labels = program.label_names()
    out = []
    for i, ins in enumerate(program):
        if i in labels:
            out.append(f"{labels[i]}:")
        out.append(format_instruction(ins, labels))
    if len(program) in labels:
        out.append(f"{labels[len(program)]}:")
    return "\n".join(out) + "\n"


def fault_reason(kind: str, program: Program, index: int) -> str:
    """A backend's fault reason naming the instruction: `<kind> at instruction 3 (cmovl eax, ecx)`."""
    if 0 <= index < len(program):
        return f"{kind} at instruction {index} ({format_instruction(program[index], program.label_names())})"
    return kind
