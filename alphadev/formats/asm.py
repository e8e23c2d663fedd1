"""A program as a GNU as `.S` file: one global System V function, Intel syntax.

The function is what `alphadev.export.function_bytes` encodes: the callee-saved registers the
program writes are pushed and popped around the body, then `ret`. Labels become `.L<name>_<index>`,
local to the file. The stack is marked non-executable.
"""
from __future__ import annotations

import games
import isa
from alphadev.export import CALLEE_SAVED, program_lines, written_registers
from alphadev.formats.common import ASM_RESERVED, identifier, provenance
from alphadev.results import Record

__all__ = ["asm_source", "asm_function"]


def asm_function(program: isa.Program, name: str) -> str:
    """The lines from `.globl` to `.size` of the function `name` running `program`."""
    identifier(name, "symbol name", ASM_RESERVED)
    saved = [r for r in written_registers(program) if r in CALLEE_SAVED]
    labels = {k: f".L{name}_{k}" for k in program.label_names()}
    body = [f"    push {r}" for r in saved]
    body += [line if line.endswith(":") else f"    {line}" for line in program_lines(program, labels, labels)]
    body += [f"    pop {r}" for r in reversed(saved)] + ["    ret"]
    return "\n".join([f"    .globl {name}", f"    .type {name}, @function", "    .p2align 4", f"{name}:",
                      *body, f"    .size {name}, .-{name}"]) + "\n"


def asm_source(record: Record, name: str) -> str:
    """The `.S` file: assemble with `gcc -c` (or `as`) and link; declare it in C as the task's
    signature says."""
    signature = games.task(record.game).signature
    comment = "\n".join(f" * {line}".rstrip() for line in [f"{name}: GNU as, Intel syntax.", *provenance(record)])
    return f"""/*
{comment}
 *
 * C declaration: {signature.declaration(name)};
 */
    .intel_syntax noprefix
    .text
{asm_function(record.program, name)}
    .section .note.GNU-stack,"",@progbits
"""
