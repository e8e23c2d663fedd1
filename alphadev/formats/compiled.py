"""What a compiler made of an exported source, read back as an `isa.Program`.

Compiles a translation unit, disassembles one function of it (`objdump -d -M intel`) and parses
the body in the project's syntax, so that `alphadev.verify` can judge the compiler's output like
any program. Every `ret` is a jump to the end of the program (the last one, falling into it, is
dropped); padding `nop`s are dropped. Anything else the compiler emitted that the
instruction subset lacks (a push, a setcc, a 16-bit operand) is an `isa.ParseError` naming it.
"""
from __future__ import annotations

import re
import subprocess
import tempfile
from pathlib import Path

import isa

__all__ = ["compile_object", "disassemble", "from_objdump"]

_LINE = re.compile(r"^\s*([0-9a-f]+):\s+(.*?)\s*$")
_JUMP = re.compile(r"^(j\w+)\s+([0-9a-f]+)\s+<[^>]*>$")


def compile_object(source: str, *, compiler: str, flags: list[str], suffix: str) -> bytes:
    """The object file `compiler` makes of `source` (suffix `.c` or `.cpp`)."""
    with tempfile.TemporaryDirectory() as tmp:
        src, obj = Path(tmp) / f"unit{suffix}", Path(tmp) / "unit.o"
        src.write_text(source)
        subprocess.run([compiler, *flags, "-c", str(src), "-o", str(obj)], check=True, capture_output=True, text=True)
        return obj.read_bytes()


def disassemble(obj: bytes, symbol: str) -> str:
    """objdump's Intel-syntax listing of `symbol` in the object file `obj`."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "unit.o"
        path.write_bytes(obj)
        run = subprocess.run(["objdump", "-d", "--no-show-raw-insn", "-M", "intel", f"--disassemble={symbol}",
                              str(path)], check=True, capture_output=True, text=True)
    return run.stdout


def from_objdump(listing: str) -> isa.Program:
    """The program of one function in an objdump listing.

    Raises:
      isa.ParseError: for an instruction outside the subset, naming it.
    """
    rows = []
    for line in listing.splitlines():
        m = _LINE.match(line)
        if m and m.group(2):
            rows.append((int(m.group(1), 16), re.sub(r"\s+", " ", m.group(2).lower())))
    padding = ("nop", "xchg ax,ax", "cs nop", "data16")
    rows = [(a, t) for a, t in rows if not t.startswith(padding)]  # alignment between blocks
    if not rows:
        raise isa.ParseError(0, "", "no instructions in the listing")
    end = rows.pop()[0] if rows[-1][1] == "ret" else None  # falling off the end returns
    lines, targets = [], {}
    for address, text in rows:
        jump = _JUMP.match(text)
        if text == "ret":
            text = "jmp .end"
        elif jump:
            target = int(jump.group(2), 16)
            name = ".end" if target == end else targets.setdefault(target, f".a{target:x}")
            text = f"{jump.group(1)} {name}"
        lines.append((address, text.replace(",", ", ")))
    out = []
    for address, text in lines:
        if address in targets:
            out.append(f"{targets[address]}:")
        out.append(text)
    out.append(".end:")
    return isa.parse("\n".join(out))
