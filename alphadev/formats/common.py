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


def identifier(name: str, what: str = "C identifier") -> str:
    """`name` if it is an identifier in C, C++, Rust and GNU as alike.

    Raises:
      RecordError: for any other name.
    """
    if not re.fullmatch(r"[A-Za-z_]\w*", name):
        raise RecordError(f"--name {name!r} is not a {what}")
    return name


def provenance(record: Record) -> list[str]:
    """Lines saying where the kernel comes from and how it was checked (no comment markers)."""
    v = record.verification or {}
    latency = ", ".join(f"{k} {val}" for k, val in record.latency.items()) or "not measured"
    return [f"A kernel for the alphadev game {record.game}.",
            "",
            f"length: {record.length} instructions; latency: {latency}",
            f"verified: Unicorn {'passed' if v.get('unicorn') else 'FAILED'}, native "
            f"{'passed' if v.get('native') else 'FAILED'} on {v.get('inputs')} inputs "
            f"({v.get('random_inputs')} random) at {v.get('when')}",
            f"seed: {record.seed}; found: {record.found}; source: {record.source or 'unknown'}; "
            f"alphadev {record.version}",
            f"written by: {record.origin()}",
            "",
            *("    " + line for line in isa.to_text(record.program).splitlines())]


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
