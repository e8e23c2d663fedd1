"""A program as a Rust function: `pub unsafe fn` around `core::arch::asm!`.

The operands come from the task's signature: each argument is bound to its register (`in`, or
`inout(...) => _` when the program writes it), the result (if any) comes from rax, and every
other register the program writes is an `out(...) _` clobber. `asm!` assumes memory and flags
are clobbered unless told otherwise; `options(nostack)` says the body never touches the stack.
Intel syntax is asm!'s default. Labels are numeric local labels (`2:`, jumped to as `2f`),
the only kind that stays unique when the function is inlined; numbers made only of 0s and 1s
are skipped (`binary_asm_labels`). LLVM reserves rbx and rbp: rbx is saved in a scratch
register around the body, and a program that writes rbp is refused.
"""
from __future__ import annotations

import re

import games
import isa
from alphadev.export import program_lines, written_registers
from alphadev.formats.common import RUST_KEYWORDS, identifier, provenance
from alphadev.results import Record, RecordError

__all__ = ["rust_source", "rust_function", "rust_type"]

SCALARS = {"int8_t": "i8", "uint8_t": "u8", "int16_t": "i16", "uint16_t": "u16", "int32_t": "i32",
           "uint32_t": "u32", "int64_t": "i64", "uint64_t": "u64", "size_t": "usize", "ptrdiff_t": "isize",
           "void": "()"}


def rust_type(ctype: str) -> str:
    """The Rust type of a C type of the signature (`const int32_t *` is `*const i32`).

    Raises:
      RecordError: for a C type without a fixed-width Rust counterpart.
    """
    match = re.fullmatch(r"\s*(const\s+)?(\w+)\s*(\*)?\s*", ctype)
    if not match or match.group(2) not in SCALARS:
        raise RecordError(f"--format rust: the signature's C type {ctype!r} has no Rust counterpart "
                          f"(known: {', '.join(SCALARS)} and pointers to them)")
    base = SCALARS[match.group(2)]
    if match.group(3):
        return f"*{'const' if match.group(1) else 'mut'} {base}"
    return base


def _labels(program: isa.Program) -> dict[int, str]:
    numbers = (n for n in range(2, 10**6) if set(str(n)) - {"0", "1"})
    return {k: str(next(numbers)) for k in program.label_names()}


def rust_function(program: isa.Program, signature: games.Signature, name: str) -> str:
    """The `pub unsafe fn` (see the module docstring).

    Raises:
      RecordError: for a bad name, a program that writes rbp, or a C type Rust lacks.
    """
    identifier(name, "Rust identifier", RUST_KEYWORDS)
    written = written_registers(program)
    if "rbp" in written:
        raise RecordError("--format rust: the program writes rbp, which asm! may not use (the frame pointer)")
    labels = _labels(program)
    lines = program_lines(program, labels, {k: f"{v}f" for k, v in labels.items()})  # "2f": the next 2:
    if "rbx" in written:
        lines = ["mov {saved_rbx}, rbx", *lines, "mov rbx, {saved_rbx}"]
    result = signature.result and "rax"
    operands = []
    for p in signature.params:
        if p.register in written:
            operands.append(f'inout("{p.register}") {p.name} => _')
        else:
            operands.append(f'in("{p.register}") {p.name}')
    if result:
        operands.append('out("rax") result')
    bound = {p.register for p in signature.params} | {result}
    operands += [f'out("{r}") _' for r in written if r not in bound and r != "rbx"]
    if "rbx" in written:
        operands.append("saved_rbx = out(reg) _")
    params = ", ".join(f"{p.name}: {rust_type(p.ctype)}" for p in signature.params)
    returns = f" -> {rust_type(signature.ctype)}" if result else ""
    declare = "        let result: u64;\n" if result else ""
    cast = {"eax": f"result as u32 as {rust_type(signature.ctype)}", "rax": f"result as {rust_type(signature.ctype)}"}
    give = f"        {cast[signature.result]}\n" if result else ""
    asm = "\n".join(f'            "{line}",' for line in lines)
    binds = "\n".join(f"            {o}," for o in operands)
    return f"""/// # Safety
/// The pointer must be valid for every access the kernel makes (see the task's signature).
#[inline]
pub unsafe fn {name}({params}){returns} {{
    unsafe {{
{declare}        core::arch::asm!(
{asm}
{binds}
            options(nostack),
        );
{give}    }}
}}
"""


def rust_source(record: Record, name: str) -> str:
    """A Rust source file (x86-64 only) holding the record's program as one function."""
    signature = games.task(record.game).signature
    comment = "\n".join(f"// {line}".rstrip() for line in [f"{name}: Rust, core::arch::asm!.", *provenance(record)])
    return f"""{comment}
//
// The C kernel: {signature.declaration(name)}

#[cfg(target_arch = "x86_64")]
{rust_function(record.program, signature, name)}"""
