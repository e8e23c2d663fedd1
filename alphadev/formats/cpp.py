"""A comparator network as a C++ template over the value type and the comparator, libc++ style.

`template <class Iter, class Compare = std::less<>> RESULT NAME(Iter x0, ..., Iter xK, Compare comp)`:
one iterator per slot the program touches (`dword ptr [rdi + 4k]` is `*xk`), each register a
local of the iterator's value type, each compare a `const bool` from `comp` taken at the compare,
each `cmovCC` a conditional assignment on it (as libc++'s `__cond_swap` after AlphaDev). The
program's signed order becomes the comparator's: `a < b` is `comp(a, b)`, `a > b` is
`comp(b, a)`, `a <= b` is `!comp(b, a)`, `a >= b` is `!comp(a, b)`, and `a == b` is neither
comparing before the other. A kernel with a result returns the value in eax.

Only programs made of 32-bit loads and stores of the slots, register moves, compares and
signed `cmovCC` fit (the sorts and min3); any other instruction (arithmetic, immediates,
unsigned conditions, jumps) is refused with the instruction named: `--format c` lifts those.
"""
from __future__ import annotations

import games
import isa
from alphadev.formats.common import conditions_needed, flag_sources, identifier, provenance
from alphadev.results import Record, RecordError

__all__ = ["cpp_source", "cpp_template", "slot_count"]

ORDER = {"l": "comp({a}, {b})", "g": "comp({b}, {a})", "le": "!comp({b}, {a})", "ge": "!comp({a}, {b})",
         "e": "!comp({a}, {b}) && !comp({b}, {a})", "ne": "(comp({a}, {b}) || comp({b}, {a}))"}


def _refuse(i: int, ins: isa.Instruction, why: str):
    raise RecordError(f"--format cpp: instruction {i} ({isa.format_instruction(ins)}) {why}; the C++ "
                      "template lifts only loads, stores, mov, cmp and signed cmovCC over the values: "
                      "use --format c")


def _slot(i: int, ins: isa.Instruction, mem: isa.Mem) -> int:
    if mem.base != "rdi" or mem.index or mem.bits != 32 or mem.disp % 4 or mem.disp < 0:
        _refuse(i, ins, "addresses memory other than a 32-bit slot [rdi + 4k]")
    return mem.disp // 4


def slot_count(program: isa.Program) -> int:
    """How many iterators the template takes: one past the highest slot the program touches."""
    slots = [op.disp // 4 for ins in program for op in ins.operands if isinstance(op, isa.Mem)]
    return max(slots, default=-1) + 1


def cpp_template(program: isa.Program, signature: games.Signature, name: str) -> str:
    """The function template (see the module docstring).

    Raises:
      RecordError: for a bad name or a program outside the comparator-network subset.
    """
    identifier(name)
    needed = conditions_needed(program)
    sources = flag_sources(program)
    defined: set[str] = set()
    lines = []

    def value(i, ins, op) -> str:
        if isinstance(op, isa.Mem):
            return f"*x{_slot(i, ins, op)}"
        if isinstance(op, isa.Reg):
            if op.name not in defined:
                _refuse(i, ins, f"reads {op.name} before writing it")
            return op.name
        _refuse(i, ins, "takes an immediate, which has no value of the template's type")

    def assign(i, ins, op, text: str) -> str:
        if isinstance(op, isa.Mem):
            return f"*x{_slot(i, ins, op)} = {text};"
        if op.name in defined:
            return f"{op.name} = {text};"
        defined.add(op.name)
        return f"value_type {op.name} = {text};"

    for i, ins in enumerate(program):
        m, ops = ins.mnemonic, ins.operands
        if ins.bits != 32 and m != "jmp":
            _refuse(i, ins, "is not a 32-bit operation")
        if m == "mov" and not all(isinstance(op, isa.Mem) for op in ops):
            text = assign(i, ins, ops[0], value(i, ins, ops[1]))
        elif m == "cmp":
            a, b = value(i, ins, ops[0]), value(i, ins, ops[1])
            conds = sorted(needed.get(i, ()))
            if any(c not in ORDER for c in conds):
                _refuse(i, ins, "is tested by an unsigned condition, which no comparator states")
            text = " ".join(f"const bool c{i}_{c} = {ORDER[c].format(a=a, b=b)};" for c in conds) or "(void)0;"
        elif m.startswith("cmov"):
            setter = min(sources[i])  # straight-line code: exactly one compare reaches it
            dst = value(i, ins, ops[0])
            text = assign(i, ins, ops[0], f"c{setter}_{m[4:]} ? {value(i, ins, ops[1])} : {dst}")
        else:
            _refuse(i, ins, "is outside the subset")
        lines.append(f"    {text:<52} // {isa.format_instruction(ins)}")
    if signature.result and "eax" not in defined:
        raise RecordError("--format cpp: the program never sets eax, the result")
    k = slot_count(program)
    iterators = ", ".join(f"Iter x{j}" for j in range(k))
    used = "\n".join(lines)
    unused = [f"    (void)x{j};" for j in range(k) if f"x{j}" not in used] + (["    (void)comp;"] if "comp(" not in used else [])
    ret = "typename std::iterator_traits<Iter>::value_type" if signature.result else "void"
    tail = "\n    return eax;" if signature.result else ""
    return f"""template <class Iter, class Compare = std::less<>>
inline {ret} {name}({iterators}, Compare comp = Compare()) {{
    using value_type = typename std::iterator_traits<Iter>::value_type;
{chr(10).join(unused + lines)}{tail}
}}
"""


def cpp_source(record: Record, name: str) -> str:
    """A C++14 header holding the record's program as a function template."""
    signature = games.task(record.game).signature
    function = cpp_template(record.program, signature, name)
    guard = f"{name.upper()}_HPP"
    comment = "\n".join(f"// {line}".rstrip() for line in [f"{name}: a C++ template.", *provenance(record)])
    example = ", ".join(f"{signature.params[0].name} + {j}" for j in range(slot_count(record.program)))
    return f"""{comment}
//
// One iterator per slot of the original `{signature.declaration(name)}`; with int32_t and
// std::less it computes what the kernel computes:
//     {name}({example});
// Any value type and strict weak order work the same way (each compare is one call to comp,
// each swap a pair of conditional assignments).
#ifndef {guard}
#define {guard}

#include <functional>
#include <iterator>

{function}
#endif  // {guard}
"""
