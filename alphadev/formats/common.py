"""What every export format shares: the name check, the provenance text, and where each flag
reader's flags come from.
"""
from __future__ import annotations

import re

import isa
from alphadev.results import Record, RecordError
from isa import flags as fl

__all__ = ["ENTRY", "identifier", "provenance", "flag_sources", "conditions_needed"]

ENTRY = -1  # the flags at entry: undefined


RUST_KEYWORDS = frozenset("""as async await break const continue crate dyn else enum extern false fn for gen if impl
    in let loop match mod move mut pub ref return self Self static struct super trait true try type unsafe use where
    while abstract become box do final macro override priv typeof unsized virtual yield""".split())
# Names GNU as reads as registers or operand keywords in Intel syntax, not as a symbol.
_GPR = ("ax", "bx", "cx", "dx", "si", "di", "bp", "sp")
ASM_RESERVED = frozenset(
    [f"r{r}" for r in _GPR] + [f"e{r}" for r in _GPR] + list(_GPR)
    + ["al", "ah", "bl", "bh", "cl", "ch", "dl", "dh", "sil", "dil", "bpl", "spl", "rip", "eip"]
    + [f"r{n}{s}" for n in range(8, 16) for s in ("", "d", "w", "b")]
    + [f"{v}mm{n}" for v in "xyz" for n in range(32)] + [f"k{n}" for n in range(8)] + [f"st{n}" for n in range(8)]
    + ["cs", "ds", "es", "fs", "gs", "ss", "st", "byte", "word", "dword", "qword", "tbyte", "xmmword", "ymmword",
       "zmmword", "ptr", "offset", "flat", "short", "near", "far"])


def identifier(name: str, what: str = "C identifier", reserved: frozenset = frozenset()) -> str:
    """`name` if it is an identifier in C, C++, Rust and GNU as alike and not in `reserved`.

    Raises:
      RecordError: for any other name.
    """
    if not re.fullmatch(r"[A-Za-z_]\w*", name):
        raise RecordError(f"--name {name!r} is not a {what}")
    if name in reserved or name.lower() in reserved:
        raise RecordError(f"--name {name!r} is reserved in this format's language: choose another name")
    return name


def _inert(text: object) -> str:
    """`text` safe inside any comment of the four formats: on one line, and unable to end a
    /* */ comment (a record's free-text fields are not covered by its digest)."""
    return " ".join(str(text).split()).replace("*/", "* /")


def provenance(record: Record) -> list[str]:
    """Lines saying where the kernel comes from and how it was checked (no comment markers)."""
    v = record.verification or {}
    latency = ", ".join(f"{k} {val}" for k, val in record.latency.items()) or "not measured"
    lines = [f"A kernel for the alphadev game {record.game}.",
             "",
             f"length: {record.length} instructions; latency: {latency}",
             f"verified: Unicorn {'passed' if v.get('unicorn') else 'FAILED'}, native "
             f"{'passed' if v.get('native') else 'FAILED'} on {v.get('inputs')} inputs "
             f"({v.get('random_inputs')} random) at {v.get('when')}",
             f"seed: {record.seed}; found: {record.found}; source: {record.source or 'unknown'}; "
             f"alphadev {record.version}",
             f"written by: {record.origin()}",
             ""]
    return [_inert(line) for line in lines] + ["    " + line for line in isa.to_text(record.program).splitlines()]


def _sets_flags(ins: isa.Instruction) -> bool:
    written, undefined = fl.flags_written(ins)
    return bool(written or undefined)


def flag_sources(program: isa.Program) -> dict[int, set[int]]:
    """For each instruction that reads flags, the instructions whose flags may reach it.

    Jumps go forward only, so one pass in program order sees every path into an instruction.
    `ENTRY` in a set means a path on which no instruction set the flags.
    """
    reaching: list[set[int]] = [set() for _ in range(len(program) + 1)]
    reaching[0].add(ENTRY)
    sources = {}
    for i, ins in enumerate(program):
        here = reaching[i]
        if fl.condition(ins):
            sources[i] = set(here)
        after = {i} if _sets_flags(ins) else here
        if ins.target is not None:
            reaching[ins.target] |= after
        if ins.mnemonic != "jmp":
            reaching[i + 1] |= after
    return sources


def conditions_needed(program: isa.Program) -> dict[int, set[str]]:
    """For each flag-setting instruction, the conditions later instructions test on its flags.

    Raises:
      RecordError: when an instruction may test flags that nothing set.
    """
    needed: dict[int, set[str]] = {}
    for reader, setters in flag_sources(program).items():
        if ENTRY in setters:
            raise RecordError(f"instruction {reader} ({isa.format_instruction(program[reader])}) may read "
                              "flags that no instruction set")
        for s in setters:
            needed.setdefault(s, set()).add(fl.condition(program[reader]))
    return needed
