"""A verified program as a self-contained C header.

The header holds the kernel twice:
  - `static inline` C function with GNU inline asm (Intel syntax switched on and back off), with
    the task's C `Signature`: each argument is bound to its register as an in-out operand, the
    result (if any) comes from rax/eax, every other register it writes is a clobber, plus
    "memory" and "cc". Labels carry `%=` so the function can be inlined many times.
  - a byte array: a complete function under the System V ABI (the callee-saved registers it
    writes are pushed and popped around the body, then `ret`), for copying into executable
    memory.
A provenance comment gives the game, length, cycles, verification, seed and project version.
Records that do not count as verified (`Record.untrusted`: a failed, forged or edited
verification, or one on too few random inputs) are refused.
"""
from __future__ import annotations

import re
import textwrap

import iced_x86 as ix

import isa
import games
from alphadev.results import MIN_RANDOM_INPUTS, Record, RecordError
from games.actions import registers_used
from games.task import CONSTRAINTS

__all__ = ["header", "inline_function", "function_bytes", "program_lines", "written_registers"]

CALLEE_SAVED = ("rbx", "rbp", "r12", "r13", "r14", "r15")

# Names the header cannot take: C and C++ keywords (the header is valid in both) and the types
# it uses from <stdint.h> and <stddef.h>.
RESERVED = frozenset("""
    alignas alignof and and_eq asm auto bitand bitor bool break case catch char char8_t char16_t
    char32_t class compl concept const consteval constexpr constinit const_cast continue co_await
    co_return co_yield decltype default delete do double dynamic_cast else enum explicit export
    extern false float for friend goto if inline int long mutable namespace new noexcept not not_eq
    nullptr operator or or_eq private protected public register reinterpret_cast requires restrict
    return short signed sizeof static static_assert static_cast struct switch template this
    thread_local throw true try typedef typeid typename typeof typeof_unqual union unsigned using
    virtual void volatile wchar_t while xor xor_eq _Alignas _Alignof _Atomic _BitInt _Bool _Complex
    _Decimal32 _Decimal64 _Decimal128 _Generic _Imaginary _Noreturn _Static_assert _Thread_local
    size_t ptrdiff_t int8_t int16_t int32_t int64_t uint8_t uint16_t uint32_t uint64_t intptr_t
    uintptr_t NULL""".split())


def check_name(name: str) -> None:
    """Raises RecordError unless `name` can name the exported function in C and C++."""
    if not re.fullmatch(r"[A-Za-z_]\w*", name, re.ASCII):
        raise RecordError(f"--name {name!r} is not a C identifier (letters, digits and _, not starting with a digit)")
    if name in RESERVED:
        raise RecordError(f"--name {name!r} is a C or C++ keyword or a standard type: choose another name")


def _comment(text: object) -> str:
    """`text` safe inside a /* */ comment: a record's strings must not end the comment early."""
    return str(text).replace("*/", "* /").replace("\n", " ")


def written_registers(program: isa.Program) -> list[str]:
    """64-bit names of every register the program writes, in encoding order."""
    numbers = set()
    for ins in program:
        if ins.target is None:
            numbers |= registers_used(ins)[1]
    return [isa.REGISTERS_64[n] for n in sorted(numbers)]


def program_lines(program: isa.Program, defined: dict[int, str], referred: dict[int, str]) -> list[str]:
    """The program's instructions as Intel-syntax lines, each label's definition (`defined[k]:`)
    before instruction k or after the last; jumps name their label as `referred[k]`. The
    formats differ only in how labels are spelt (`%=` in inline asm, numeric in Rust)."""
    lines = []
    for i, ins in enumerate(program):
        if i in defined:
            lines.append(f"{defined[i]}:")
        lines.append(isa.format_instruction(ins, referred))
    if len(program) in defined:
        lines.append(f"{defined[len(program)]}:")
    return lines


def function_bytes(program: isa.Program) -> bytes:
    """The kernel as an ABI-conforming function: save, body, restore, ret."""
    saved = [r for r in written_registers(program) if r in CALLEE_SAVED]
    encode = lambda code, reg: ix.Instruction.create_reg(code, getattr(ix.Register, reg.upper()))
    push = [encode(ix.Code.PUSH_R64, r) for r in saved]
    pop = [encode(ix.Code.POP_R64, r) for r in reversed(saved)]
    return _encode(push) + isa.assemble(program) + _encode(pop + [ix.Instruction.create(ix.Code.RETNQ)])


def _encode(instructions) -> bytes:
    if not instructions:
        return b""
    encoder = ix.BlockEncoder(64)
    encoder.add_many(instructions)
    return encoder.encode(0)


def inline_function(program: isa.Program, signature: games.Signature, name: str) -> str:
    """The `static inline` C function `signature` names, running `program` as GNU inline asm.

    Raises:
      RecordError: for a name that is no C identifier (or a keyword) or a program that writes rbp.
    """
    check_name(name)
    written = written_registers(program)
    if "rbp" in written:
        raise RecordError("the program writes rbp, which inline asm cannot clobber under a frame pointer")
    result = signature.result and isa.REGISTERS_64[isa.Reg(signature.result).number]
    bound = {p.register for p in signature.params} | ({result} if result else set())
    clobbers = [f'"{r}"' for r in written if r not in bound] + ['"memory"', '"cc"']
    labels = program.label_names()
    unique = {k: f"{v}_%=" for k, v in labels.items()}  # %=: a number unique to each inlined copy
    lines = program_lines(program, unique, unique)
    asm = "\n".join(f'        "{line}\\n\\t"' for line in lines)
    outputs = (['"=&a"(result)'] if result else []) + [f'"+{CONSTRAINTS[p.register]}"({p.name})'
                                                          for p in signature.params]
    declare = "    uint64_t result;\n" if result else ""
    give = f"    return ({signature.ctype})result;\n" if result else ""
    return f"""static inline {signature.declaration(name)} {{
{declare}    __asm__ volatile(
        ".intel_syntax noprefix\\n\\t"
{asm}
        ".att_syntax prefix\\n\\t"
        : {", ".join(outputs)}
        :
        : {", ".join(clobbers)});
{give}}}
"""


def header(record: Record, name: str | None = None, *, min_random: int = MIN_RANDOM_INPUTS) -> str:
    """The C header text for a verified record.

    Args:
      record: the record; it must pass `record.untrusted(min_random=min_random)`.
      name: the C function's name (default alphadev_<game>).
      min_random: the least random inputs its verification must have run.
    Raises:
      RecordError: for a record that does not count as verified, a bad name or a program that
        writes rbp.
    """
    name = name or f"alphadev_{record.game}"
    check_name(name)
    if problem := record.untrusted(min_random=min_random):
        raise RecordError(f"refusing to export the {record.game} program: {problem}")
    program = record.program
    signature = games.task(record.game).signature
    function = inline_function(program, signature, name)
    code = function_bytes(program)
    code_lines = textwrap.wrap(", ".join(f"0x{b:02x}" for b in code), 96)
    v = record.verification
    latency = _comment(", ".join(f"{k} {val}" for k, val in record.latency.items()) or "not measured")
    guard = f"{name.upper()}_H"
    listing = "\n".join(f" *   {line}" for line in isa.to_text(program).splitlines())
    return f"""/* {name}: a kernel for the alphadev game {record.game}.
 *
 * length: {record.length} instructions; latency: {latency}
 * verified: Unicorn and native passed on {v['inputs']} inputs ({v['random_inputs']} random, seed {v['seed']}) at {_comment(v['when'])}
 * verification digest: {v['digest']}
 * seed: {record.seed}; found: {_comment(record.found)}; source: {_comment(record.source or 'unknown')}; alphadev {_comment(record.version)}
 * written by: {_comment(record.origin())}
 *
{listing}
 *
 * The asm switches to Intel syntax and back: do not compile this header with -masm=intel.
 */
#ifndef {guard}
#define {guard}

#include <stddef.h>
#include <stdint.h>

{function}
/* The same kernel as a complete System V function ({len(code)} bytes: callee-saved registers it
 * writes are saved and restored, then ret). Copy into executable memory and call it as
 * {signature.declaration("(*)")}. */
static const unsigned char {name}_code[{len(code)}] __attribute__((unused)) = {{
    {(chr(10) + '    ').join(code_lines)}
}};

#endif /* {guard} */
"""
