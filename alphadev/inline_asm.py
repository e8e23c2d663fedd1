"""Kernels written as C functions of GCC inline asm in AT&T syntax, read into `isa.Program`s.

This is the format of DeepMind's released AlphaDev kernels (`sort_functions_test.cc`):

    void Sort3AlphaDev(int* buffer) {
      asm volatile(
          "mov 0x4(%0), %%eax   \\n"
          ...
          : "+r"(buffer)
          :
          : "eax", "ecx", "memory");
    }

Each function's template is converted to the subset's Intel syntax and parsed by `isa.parse`:
operands reversed, `%%reg` and `$imm` unmarked, `disp(base,index,scale)` written as
`[base+index*scale+disp]`, a size suffix (`cmpl`) made a `dword ptr`, numeric local labels
(`0:`, `jmp 1f`) given unique names, and each `%N` replaced by the register its C argument
arrives in under the task's `Signature` (the function's parameters must match it in number).
A function is matched to a task by its name's start: `Sort3AlphaDev` and `Sort3Network` are for
`sort3`, `VarSort3AlphaDev` for `varsort3`.
"""
from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Callable, Optional

import games
import isa
from isa.model import COND_ALIASES, MNEMONICS

__all__ = ["InlineKernel", "read_kernels", "to_intel", "to_program", "task_kernels", "verified_kernels"]

_FUNCTION = re.compile(r"\bvoid\s+(\w+)\s*\(([^)]*)\)\s*\{\s*(?:asm|__asm__)\s*(?:volatile|__volatile__)?\s*\(")
_STRING = re.compile(r'\s*"((?:[^"\\]|\\.)*)"')
_ESCAPES = {"n": "\n", "t": "\t", "\\": "\\", '"': '"', "'": "'"}
_SIZES = {"l": "dword", "q": "qword"}


@dataclasses.dataclass(frozen=True)
class InlineKernel:
    """One function of the file.

    Attributes:
      name: the C function's name. params: its parameter names, in order.
      lines: the asm template, one line per instruction or label (C escapes decoded).
      operands: the C names bound to `%0`, `%1`, ... (outputs, then inputs).
    """
    name: str
    params: tuple[str, ...]
    lines: tuple[str, ...]
    operands: tuple[str, ...]


def _unescape(literal: str) -> str:
    return re.sub(r"\\(.)", lambda m: _ESCAPES.get(m.group(1), m.group(1)), literal)


def read_kernels(text: str) -> list[InlineKernel]:
    """Every `void f(...) { asm(...); }` function of a C/C++ file's text, in order."""
    kernels = []
    for m in _FUNCTION.finditer(text):
        pos, template = m.end(), []
        while (s := _STRING.match(text, pos)):
            template.append(_unescape(s.group(1)))
            pos = s.end()
        close = text.find(";", pos)  # the operand lists run to the end of the asm statement
        operands = tuple(re.findall(r'"[^"]*"\s*\(\s*(\w+)\s*\)', text[pos:close]))
        params = tuple(re.findall(r"(\w+)\s*(?:,|$)", m.group(2).strip()))
        lines = tuple(line.strip() for line in re.split(r"[\n;]", "".join(template)) if line.strip())
        kernels.append(InlineKernel(m.group(1), params, lines, operands))
    return kernels


def _known(word: str) -> bool:
    return word in MNEMONICS or any(word.startswith(p) and word[len(p):] in COND_ALIASES for p in ("cmov", "j"))


def _operand(text: str, registers: dict[str, str], size: Optional[str]) -> str:
    """One AT&T operand in Intel syntax."""
    text = re.sub(r"%(\d+)", lambda m: registers.get(m.group(1), f"%{m.group(1)}"), text.replace("%%", "%"))
    if text.startswith("$"):
        return text[1:]
    if text.startswith("%"):
        return text[1:]
    m = re.fullmatch(r"([-+\w]*)\(\s*%?(\w+)?\s*(?:,\s*%?(\w+)\s*(?:,\s*(\d+))?)?\s*\)", text)
    if not m:
        return text  # a label, or something isa.parse will name
    disp, base, index, scale = m.groups()
    address = (base or "") + (f"+{index}*{scale or 1}" if index else "")
    if disp:
        address += disp if disp.startswith(("-", "+")) else f"+{disp}"
    return f"{size + ' ptr ' if size else ''}[{address}]"


def _split_operands(text: str) -> list[str]:
    return [o.strip() for o in re.split(r",(?![^(]*\))", text) if o.strip()]


def to_intel(kernel: InlineKernel, registers: dict[str, str]) -> list[str]:
    """The kernel's lines in Intel syntax, one for each of `kernel.lines`.

    Args:
      registers: asm operand number ("0") -> the 64-bit register it arrives in.
    """
    defined: list[tuple[int, str]] = []  # (line index, numeric label) of each definition
    for k, line in enumerate(kernel.lines):
        if re.fullmatch(r"\d+:", line):
            defined.append((k, line[:-1]))

    def local(k: int, ref: str) -> str:  # `1f`: the next `1:` after line k; `1b`: the last before
        number, way = ref[:-1], ref[-1]
        found = [d for d, n in defined if n == number and (d > k if way == "f" else d < k)]
        if not found:
            return ref
        return f".L{number}_{found[0] if way == 'f' else found[-1]}"

    out = []
    for k, line in enumerate(kernel.lines):
        if re.fullmatch(r"\d+:", line):
            out.append(f".L{line[:-1]}_{k}:")
            continue
        if line.endswith(":"):
            out.append(line)
            continue
        word, _, rest = line.partition(" ")
        mnemonic, size = word.lower(), None
        if not _known(mnemonic) and mnemonic[-1:] in _SIZES and _known(mnemonic[:-1]):
            mnemonic, size = mnemonic[:-1], _SIZES[mnemonic[-1]]
        if mnemonic.startswith("j") and _known(mnemonic):
            target = rest.strip()
            if re.fullmatch(r"\d+[fb]", target):
                target = local(k, target)
            out.append(f"{mnemonic} {target}")
            continue
        ops = [_operand(o, registers, size) for o in _split_operands(rest)]
        out.append(f"{mnemonic} {', '.join(reversed(ops))}".strip())
    return out


def to_program(kernel: InlineKernel, signature: games.Signature) -> isa.Program:
    """The kernel as a `Program` for a task of `signature`.

    Raises:
      ValueError: one line naming the kernel, and the AT&T line with what is wrong with it.
    """
    if len(kernel.params) != len(signature.params):
        raise ValueError(f"{kernel.name}: takes {len(kernel.params)} arguments, the task's kernels "
                         f"{len(signature.params)} ({signature.declaration(kernel.name)})")
    arriving = {name: isa.REGISTERS_64[isa.Reg(p.register).number] for name, p in zip(kernel.params, signature.params)}
    registers = {str(n): arriving[name] for n, name in enumerate(kernel.operands) if name in arriving}
    try:
        return isa.parse("\n".join(to_intel(kernel, registers)))
    except isa.ParseError as e:
        raise ValueError(f"{kernel.name}: {kernel.lines[e.line_no - 1]!r}: {e.problem}") from None


def _for_task(function: str, game: str) -> bool:
    """`Sort3AlphaDev` and `Sort3Network` are for sort3; `Sort32` and `VarSort3` are not."""
    name = function.lower()
    return name.startswith(game) and not name[len(game):len(game) + 1].isdigit()


def task_kernels(path: str | Path, game: str) -> tuple[list[tuple[str, isa.Program]], list[str]]:
    """The kernels of the file at `path` for `game`, converted (not verified).

    Returns:
      ([(function name, program)], [one line per kernel of the game that could not be converted]).
    Raises:
      OSError: the file cannot be read. ValueError: it has no kernel for `game`.
    """
    kernels = read_kernels(Path(path).read_text())
    mine = [k for k in kernels if _for_task(k.name, game)]
    if not mine:
        found = ", ".join(k.name for k in kernels) or "no asm functions"
        raise ValueError(f"{path}: no kernel for {game} (found {found})")
    signature = games.task(game).signature
    programs, problems = [], []
    for kernel in mine:
        try:
            programs.append((kernel.name, to_program(kernel, signature)))
        except (ValueError, isa.ProgramError) as e:
            problems.append(str(e))
    return programs, problems


def verified_kernels(path: str | Path, game: str, *, n_random: int,
                     progress: Optional[Callable[[str], None]] = None) -> tuple[list[tuple[str, isa.Program]], list[str]]:
    """The kernels of the file at `path` for `game` that convert and pass `alphadev.verify`.

    Args:
      n_random: random inputs each is verified on. progress: called with a line before each.
    Returns:
      ([("Name (length)", program)], [one line per kernel skipped: not converted or not verified]).
    Raises:
      OSError, ValueError: as `task_kernels`.
    """
    from alphadev.verify import verify
    programs, problems = task_kernels(path, game)
    kept = []
    for name, program in programs:
        if progress:
            progress(f"verifying {name} from {path} on {n_random:,} random inputs")
        found = verify(program, game, n_random=n_random)
        if found.passed:
            kept.append((f"{name} ({len(program)})", program))
        else:
            problems.append(f"{name}: fails verification: {found.first_failure}")
    return kept, problems
