"""Machine code: `assemble` encodes with iced-x86, `disassemble` decodes with capstone.

The two are independent implementations, so `disassemble(assemble(p)) == p` is a real check.
Where x86 offers several encodings, `assemble` picks the one GNU `as` picks (short immediate and
accumulator forms, `D1` for a shift by one, short jumps when they reach), so the bytes equal
GNU `as` output; the tests compare every form.
"""
from __future__ import annotations

import functools

import capstone
import iced_x86 as ix

from isa.model import ALU, Imm, Instruction, Mem, Program, ProgramError, Reg, Target

_CODE = ix.Code
_REG = {name: getattr(ix.Register, name.upper()) for name in
        ("rax rcx rdx rbx rsp rbp rsi rdi r8 r9 r10 r11 r12 r13 r14 r15 "
         "eax ecx edx ebx esp ebp esi edi r8d r9d r10d r11d r12d r13d r14d r15d").split()}


def _mem(m: Mem) -> ix.MemoryOperand:
    index = _REG[m.index] if m.index else ix.Register.NONE
    return ix.MemoryOperand(_REG[m.base], index, m.scale, m.disp, 1 if m.disp else 0)


def _fits8(v: int) -> bool:
    return -128 <= v < 128


def _code_name(ins: Instruction) -> str:
    m, form, w = ins.mnemonic, ins.form, ins.bits
    ops = ins.operands
    imm = ops[-1].value if isinstance(ops[-1], Imm) else None
    if m in ALU or m == "mov":
        op = m.upper()
        if form == "r,r" or form == "m,r":
            return f"{op}_RM{w}_R{w}"
        if form == "r,m":
            return f"{op}_R{w}_RM{w}"
        if m == "mov":
            return "MOV_R32_IMM32" if form == "r,i" and w == 32 else f"MOV_RM{w}_IMM32"
        if _fits8(imm):
            return f"{op}_RM{w}_IMM8"
        if form == "r,i" and ops[0].number == 0:  # GNU as uses the short accumulator form
            return f"{op}_{'EAX' if w == 32 else 'RAX'}_IMM32"
        return f"{op}_RM{w}_IMM32"
    if m == "movabs":
        return "MOV_R64_IMM64"
    if m.startswith("cmov"):
        return f"{m.upper()}_R{w}_RM{w}"
    if m in ("not", "neg", "mul"):
        return f"{m.upper()}_RM{w}"
    if m in ("shl", "shr", "sar", "rol", "ror"):
        return f"{m.upper()}_RM{w}_1" if imm == 1 else f"{m.upper()}_RM{w}_IMM8"
    if m == "imul":
        if len(ops) == 2:
            return f"IMUL_R{w}_RM{w}"
        return f"IMUL_R{w}_RM{w}_IMM8" if _fits8(imm) else f"IMUL_R{w}_RM{w}_IMM32"
    if m == "lea":
        return f"LEA_R{w}_M"
    if m == "jmp":
        return "JMP_REL8_64"
    if m.startswith("j"):
        return f"{m.upper()}_REL8_64"
    raise ProgramError(f"no encoding for {m} {form}")  # unreachable for a valid Instruction


def _iced(ins: Instruction, code, targets: dict[int, int]) -> ix.Instruction:
    ops = ins.operands
    if isinstance(ops[0], Target):
        return ix.Instruction.create_branch(code, targets[ops[0].index])
    args = []
    for op in ops:
        if isinstance(op, Reg):
            args.append(_REG[op.name])
        elif isinstance(op, Mem):
            args.append(_mem(op))
        else:
            args.append(op.value)
    kinds = "_".join("reg" if isinstance(o, Reg) else "mem" if isinstance(o, Mem)
                     else ("u64" if ins.mnemonic == "movabs" else "i32") for o in ops)
    return getattr(ix.Instruction, f"create_{kinds}")(code, *args)


_ORIGIN = 0x1000
_STRIDE = 0x100  # provisional addresses, one per instruction; BlockEncoder lays them out


def assemble(program: Program) -> bytes:
    """Encodes a kernel body (no `ret`: the backends add what calling it needs).

    Returns:
      The machine code bytes, as GNU `as` would emit them for `to_text(program)`.
    """
    n = len(program)
    targets = {i: _ORIGIN + i * _STRIDE for i in range(n + 1)}
    encoder = ix.BlockEncoder(64)
    for i, ins in enumerate(program):
        x = _iced(ins, getattr(_CODE, _code_name(ins)), targets)
        x.ip = targets[i]
        encoder.add(x)
    # A one-byte sentinel gives a label at the very end an address; it is cut off again.
    end = ix.Instruction.create(_CODE.INT3)
    end.ip = targets[n]
    encoder.add(end)
    return encoder.encode(_ORIGIN)[:-1]


@functools.lru_cache(maxsize=1)
def _capstone() -> capstone.Cs:
    cs = capstone.Cs(capstone.CS_ARCH_X86, capstone.CS_MODE_64)
    cs.detail = True
    return cs


def disassemble(code: bytes) -> Program:
    """Decodes machine code with capstone into a `Program`.

    Raises:
      ProgramError: for bytes that do not decode, or decode to an instruction (or a jump)
        outside the subset.
    """
    from capstone import x86_const as X
    cs = _capstone()
    decoded = list(cs.disasm(bytes(code), _ORIGIN))
    if sum(d.size for d in decoded) != len(code):
        raise ProgramError(f"bytes at offset {sum(d.size for d in decoded)} do not decode")
    index = {d.address: i for i, d in enumerate(decoded)}
    index[_ORIGIN + len(code)] = len(decoded)
    out = []
    for d in decoded:
        mnemonic = d.mnemonic
        ops = []
        for op in d.operands:
            if op.type == X.X86_OP_REG:
                ops.append(Reg(cs.reg_name(op.reg)))
            elif op.type == X.X86_OP_MEM:
                mem = op.mem
                ops.append(Mem(0 if mnemonic == "lea" else op.size * 8, cs.reg_name(mem.base),
                               cs.reg_name(mem.index) if mem.index else None, mem.scale, mem.disp))
            elif mnemonic.startswith("j"):
                if op.imm not in index:
                    raise ProgramError(f"{d.mnemonic} at {d.address - _ORIGIN:#x} leaves the program")
                ops.append(Target(index[op.imm]))
            else:  # capstone may report a sign-extended immediate as unsigned 64-bit
                ops.append(Imm(op.imm - 2**64 if op.imm >= 2**63 and mnemonic != "movabs" else op.imm))
        if mnemonic in ("shl", "shr", "sar", "rol", "ror") and len(ops) == 1:
            ops.append(Imm(1))  # capstone drops the implicit count of the D1 form
        try:
            out.append(Instruction(mnemonic, tuple(ops)))
        except ProgramError as e:
            raise ProgramError(f"{d.mnemonic} {d.op_str}: {e}") from None
    return Program(tuple(out))


def offsets(code: bytes) -> list[int]:
    """Byte offset of each instruction in assembled code."""
    return [d.address - _ORIGIN for d in _capstone().disasm(bytes(code), _ORIGIN)]


def instruction_bytes(ins: Instruction) -> bytes:
    """The encoding of a single non-jump instruction (what a game's action space caches)."""
    if ins.target is not None:
        raise ProgramError("a jump has no encoding on its own: its offset depends on the program")
    return assemble(Program((ins,)))


__all__ = ["assemble", "disassemble", "instruction_bytes", "offsets"]
