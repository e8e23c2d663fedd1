"""A program as portable C: a `static inline` function over fixed-width integers.

The lift goes instruction by instruction, so it holds for any task's program (loads, stores,
arithmetic, the hash's 128-bit `mul`, branches):
  - each register is a `uint64_t` local named after it; a 32-bit write zero-extends, as the CPU
    does, by going through `uint32_t`;
  - a flag-setting instruction evaluates, before it writes anything, each condition that a later
    `cmovCC`/`jCC` tests on its flags, into a `bool` named after the condition (`cc_g`); a `cmovCC`
    is `x = cc ? y : x;`, the conditional assignment compilers turn into `cmov`;
  - memory goes through the data pointer: `buf[k]` where the access is one element of the
    pointer's own type at a fixed index, else `memcpy` at the computed address (any alignment,
    no aliasing assumption);
  - jumps are `goto`s to labels `L<index>`.
The conditions are expressed for the instructions that set all four flags with a value a
compare can state (cmp, sub, neg, add, and, or, xor); a program that tests the flags of a shift
or a multiply is refused (the inline-asm header carries any program).
"""
from __future__ import annotations

import re

import games
import isa
from alphadev.export import written_registers
from alphadev.formats.common import conditions_needed, identifier, provenance
from alphadev.results import Record, RecordError
from isa.model import ALU, SHIFTS

__all__ = ["c_source", "c_function"]

SIGNED = {"l": "<", "le": "<=", "g": ">", "ge": ">="}
UNSIGNED = {"b": "<", "be": "<=", "a": ">", "ae": ">="}
EQUAL = {"e": "==", "ne": "!="}
STATED = ("cmp", "sub", "neg", "add", "and", "or", "xor")  # flag setters whose conditions C states
ELEMENTS = {"int32_t": 32, "uint32_t": 32, "int64_t": 64, "uint64_t": 64}


def _hex(value: int, bits: int) -> str:
    value %= 2**bits
    text = str(value) if value < 2**16 else f"{value:#x}"
    return text + ("u" if bits == 32 else "ull")


class _Lift:
    """Builds the C statements of one program (see the module docstring)."""

    def __init__(self, program: isa.Program, signature: games.Signature, name: str):
        self.program, self.signature, self.name = program, signature, name
        self.needed = conditions_needed(program)
        self.helpers: set[str] = set()
        pointer = signature.params[0]
        base = pointer.ctype.replace("const", "").replace("*", "").strip()
        writes_rdi = "rdi" in written_registers(program)
        # buf[k] needs rdi to hold the pointer throughout and an element type of known width.
        self.element = (pointer.name, base, ELEMENTS[base]) if base in ELEMENTS and not writes_rdi else None
        self.narrow = _only_32_bits(program, signature)

    # Values.
    @staticmethod
    def _utype(bits: int) -> str:
        return f"uint{bits}_t"

    def var(self, number: int) -> str:
        """The local that holds register `number`: `eax` if only its low half is ever used."""
        return (isa.REGISTERS_32 if number in self.narrow else isa.REGISTERS_64)[number]

    def reg(self, op: isa.Reg) -> str:
        var = self.var(op.number)
        return f"(uint32_t){var}" if op.bits == 32 and op.number not in self.narrow else var

    def address(self, mem: isa.Mem) -> str:
        terms = [mem.base] + ([f"{mem.index} * {mem.scale}" if mem.scale > 1 else mem.index] if mem.index else [])
        text = " + ".join(terms)
        if mem.disp:
            text += f" {'-' if mem.disp < 0 else '+'} {abs(mem.disp)}"
        return text

    def _element(self, mem: isa.Mem) -> str | None:
        if self.element is None or mem.index or mem.base != "rdi":
            return None
        pointer, ctype, bits = self.element
        if mem.bits != bits or mem.disp % (bits // 8) or mem.disp < 0:
            return None
        return f"{pointer}[{mem.disp // (bits // 8)}]"

    def read(self, op, bits: int) -> str:
        if isinstance(op, isa.Reg):
            return self.reg(op)
        if isinstance(op, isa.Imm):
            return _hex(op.value, bits)
        element = self._element(op)
        if element:
            return f"({self._utype(bits)}){element}"
        self.helpers.add(f"load{op.bits}")
        return f"{self.name}_load{op.bits}({self.address(op)})"

    def write(self, op, value: str, bits: int) -> str:
        if isinstance(op, isa.Reg):
            return f"{self.var(op.number)} = {value};"
        element = self._element(op)
        if element:
            return f"{element} = ({self.element[1]}){value};"
        self.helpers.add(f"store{op.bits}")
        return f"{self.name}_store{op.bits}({self.address(op)}, {value});"

    # Conditions.
    def condition(self, i: int, cond: str, a: str, b: str, result: str) -> str:
        ins = self.program[i]
        bits, m = ins.bits, ins.mnemonic
        s = f"(int{bits}_t)"
        if m in ("cmp", "sub", "neg"):
            if cond in SIGNED:
                return f"{s}{a} {SIGNED[cond]} {s}{b}"
            return f"{a} {(UNSIGNED | EQUAL)[cond]} {b}"
        if m in ("and", "or", "xor"):  # CF = OF = 0; ZF and SF from the result
            if cond in SIGNED:
                return f"{s}{result} {SIGNED[cond]} 0"
            return {"e": f"{result} == 0", "ne": f"{result} != 0", "b": "false", "ae": "true",
                    "be": f"{result} == 0", "a": f"{result} != 0"}[cond]
        if m == "add":  # the exact sum, in a type twice as wide, gives SF != OF and CF
            wide_s, wide_u = ("int64_t", "uint64_t") if bits == 32 else ("__int128", "unsigned __int128")
            exact = f"(({wide_s}){s}{a} + {s}{b})"
            carry = f"(({wide_u}){a} + {b} > UINT{bits}_MAX)"
            zero = f"({self._utype(bits)})({a} + {b}) == 0"
            table = {**{c: f"{exact} {op} 0" for c, op in SIGNED.items()},
                     "e": zero, "ne": f"!({zero})", "b": carry, "ae": f"!{carry}",
                     "be": f"({carry} || {zero})", "a": f"!({carry} || {zero})"}
            return table[cond]
        raise AssertionError(f"no condition for {m}: statements() refuses it first")

    def conditions(self, i: int, a: str, b: str, result: str = "") -> list[str]:
        return [f"cc_{c} = {self.condition(i, c, a, b, result)};" for c in sorted(self.needed.get(i, ()))]

    # Instructions.
    def statements(self, i: int) -> list[str]:
        ins, ops = self.program[i], self.program[i].operands
        m, bits = ins.mnemonic, ins.bits
        if i in self.needed and m not in STATED:
            raise RecordError(f"--format c: instruction {i} ({isa.format_instruction(ins)}) sets flags that a later "
                              f"instruction tests, which the C lift states only for {', '.join(STATED)}; "
                              "--format header carries any program")
        u = self._utype(bits)
        narrow = (lambda e: f"(uint32_t)({e})") if bits == 32 else (lambda e: e)
        if m in ("mov", "movabs"):
            return [self.write(ops[0], self.read(ops[1], bits), bits)]
        if m in ALU:
            a, b = self.read(ops[0], bits), self.read(ops[1], bits)
            if m == "cmp":
                return self.conditions(i, a, b)
            symbol = {"add": "+", "sub": "-", "and": "&", "or": "|", "xor": "^"}[m]
            value = narrow(f"{a} {symbol} {b}")
            if m in ("and", "or", "xor"):  # conditions on the result, read back after the write
                return [self.write(ops[0], value, bits)] + self.conditions(i, a, b, self.read(ops[0], bits))
            return self.conditions(i, a, b) + [self.write(ops[0], value, bits)]
        if m == "not":
            return [self.write(ops[0], narrow("~" + self.read(ops[0], bits)), bits)]
        if m == "neg":
            a = self.read(ops[0], bits)
            return self.conditions(i, _hex(0, bits), a) + [self.write(ops[0], narrow(f"{_hex(0, bits)} - {a}"), bits)]
        if m in SHIFTS:
            a, count = self.read(ops[0], bits), ops[1].value & (bits - 1)
            if count == 0:  # no shift, but a 32-bit destination is still zero-extended
                return [self.write(ops[0], a, bits)]
            value = {"shl": f"{a} << {count}", "shr": f"{a} >> {count}",
                     "sar": f"({u})((int{bits}_t){a} >> {count})",
                     "rol": f"({a} << {count}) | ({a} >> {bits - count})",
                     "ror": f"({a} >> {count}) | ({a} << {bits - count})"}[m]
            return [self.write(ops[0], narrow(value), bits)]
        if m == "imul":
            a, b = (self.read(ops[1], bits), self.read(ops[2], bits)) if len(ops) == 3 else \
                (self.read(ops[0], bits), self.read(ops[1], bits))
            return [self.write(ops[0], narrow(f"{a} * {b}"), bits)]
        if m == "mul":  # rdx:rax = rax * src, unsigned
            wide = "uint64_t" if bits == 32 else "unsigned __int128"
            src = self.read(ops[0], bits)
            acc = self.reg(isa.Reg("eax" if bits == 32 else "rax"))
            return [f"{{ {wide} product = ({wide}){acc} * {src};",
                    f"  {self.var(0)} = ({u})product; {self.var(2)} = ({u})(product >> {bits}); }}"]
        if m == "lea":
            return [self.write(ops[0], narrow(self.address(ops[1])), bits)]
        if m.startswith("cmov"):
            return [self.write(ops[0], f"cc_{m[4:]} ? {self.read(ops[1], bits)} : {self.read(ops[0], bits)}", bits)]
        if m == "jmp":
            return [f"goto L{ins.target};"]
        return [f"if (cc_{m[1:]}) goto L{ins.target};"]


def _only_32_bits(program: isa.Program, signature: games.Signature) -> set[int]:
    """Registers the program uses only as 32-bit values (never in an address, never an argument)."""
    wide = {isa.Reg(p.register).number for p in signature.params}
    if signature.result == "rax":
        wide.add(0)
    seen = set()
    for ins in program:
        if ins.mnemonic == "mul":
            seen |= {0, 2}
            if ins.bits == 64:
                wide |= {0, 2}
        for op in ins.operands:
            if isinstance(op, isa.Reg):
                seen.add(op.number)
                if op.bits == 64:
                    wide.add(op.number)
            elif isinstance(op, isa.Mem):
                wide |= {isa.REGISTERS_64.index(r) for r in (op.base, op.index) if r}
    return seen - wide


def _helper(name: str, kind: str) -> str:
    bits = int(kind[-2:])
    if kind.startswith("load"):
        return (f"static inline uint{bits}_t {name}_{kind}(uint64_t address) {{\n"
                f"    uint{bits}_t value;\n    memcpy(&value, (const void *)(uintptr_t)address, {bits // 8});\n"
                f"    return value;\n}}\n")
    return (f"static inline void {name}_{kind}(uint64_t address, uint{bits}_t value) {{\n"
            f"    memcpy((void *)(uintptr_t)address, &value, {bits // 8});\n}}\n")


def c_function(program: isa.Program, signature: games.Signature, name: str) -> str:
    """The `static inline` C function (and the memory helpers it uses) computing `program`.

    Raises:
      RecordError: for a bad name, or flags the lift cannot express (module docstring).
    """
    identifier(name)
    lift = _Lift(program, signature, name)
    labels = {ins.target for ins in program if ins.target is not None}
    names = program.label_names()
    body = []
    for i, ins in enumerate(program):
        if i in labels:
            body.append(f"L{i}:")
        text = lift.statements(i) or ["/* flags unused */"]
        body += [f"    {s}" for s in text[:-1]] + [f"    {text[-1]:<56} /* {isa.format_instruction(ins, names)} */"]
    if len(program) in labels:
        body.append(f"L{len(program)}:;")
    code = "\n".join(body)
    bare = re.sub(r"/\*.*?\*/", "", code)  # what the statements name, without the comments
    arguments = {p.register: p for p in signature.params}
    variables = {lift.var(n): n for n in range(16)}
    used = [v for v in variables if re.search(rf"\b{v}\b", bare)]
    result = signature.result and lift.var(isa.Reg(signature.result).number)
    if result and result not in used:
        used.append(result)
    declarations = []
    for r in used:
        p = arguments.get(isa.REGISTERS_64[variables[r]])
        start = "0" if p is None else f"(uint64_t)(uintptr_t){p.name}" if p.pointer else f"(uint64_t){p.name}"
        # Registers the program reads before writing hold whatever the caller left there; the
        # verified program's result does not depend on them, so 0 stands in for that.
        declarations.append(f"    uint{32 if variables[r] in lift.narrow else 64}_t {r} = {start};")
    never_read = [r for r in used if r != result and not re.search(rf"\b{r}\b(?!\s*=[^=])", bare)]
    declarations += [f"    (void){r};  /* written, never read */" for r in never_read]
    conditions = sorted({c for cs in lift.needed.values() for c in cs})
    declarations += [f"    bool cc_{c} = false;" for c in conditions]
    for p in signature.params:
        if lift.var(isa.Reg(p.register).number) not in used and f"{p.name}[" not in bare:
            declarations.append(f"    (void){p.name};")
    if result:
        cast = "(uint32_t)" if signature.result == "eax" and result == "rax" else ""
        code += f"\n    return ({signature.ctype}){cast}{result};"
    helpers = "".join(_helper(name, kind) for kind in sorted(lift.helpers))
    return f"{helpers}static inline {signature.declaration(name)} {{\n" + "\n".join(declarations) + f"\n{code}\n}}\n"


def c_source(record: Record, name: str) -> str:
    """A C header holding the record's program as a portable `static inline` function."""
    signature = games.task(record.game).signature
    function = c_function(record.program, signature, name)
    guard = f"{name.upper()}_C_H"
    comment = "\n".join(f" * {line}".rstrip() for line in [f"{name}: portable C.", *provenance(record)])
    return f"""/*
{comment}
 *
 * Lifted instruction by instruction: registers are uint64_t locals, each cmovCC a conditional
 * assignment, memory the data pointer. Any C99 compiler; gcc and clang at -O2 emit cmov.
 */
#ifndef {guard}
#define {guard}

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

{function}
#endif /* {guard} */
"""
