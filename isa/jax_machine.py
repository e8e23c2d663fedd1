"""The JAX machine: a pure, jit-able step function over the state of one input.

An instruction is an integer token (`encode`, [F] int32); a program is a token array [L, F].
`step(machine, token, position)` executes the instruction at `position` for an input whose
program counter is there, and leaves every other input alone. Because jumps only go forward,
visiting positions 0..L-1 in order runs any program exactly, with one static token per step (no
fetch by program counter), and a game can grow a program move by move with the same call.
Batch with `jax.vmap`: over inputs, and over programs for a batch of programs.

Values are 64-bit pairs of uint32 (see `isa.u64` for why). Flag definedness comes from the
masks `isa.flags` puts in each token, so this machine and the replay that the other backends do
cannot drift apart.
"""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from isa import flags as fl
from isa import u64
from isa.model import ALU, CONDITIONS, REGISTERS_64, SHIFTS, Imm, Instruction, Mem, Program, Reg
from isa.syntax import fault_reason
from isa.types import BAD_MEMORY, DATA_BASE, STACK_TOP, UNDEFINED_FLAG, Execution, Inputs

__all__ = ["Machine", "encode", "encode_program", "init", "step", "run", "run_batch", "ops_of", "execute",
           "dwords", "N_FIELDS", "F_VALID", "F_OP", "F_WIDE", "F_COND", "F_A", "F_AREG", "F_B", "F_BREG",
           "F_DST", "F_DREG", "F_BASE", "F_INDEX", "F_SHIFT", "F_DISP", "F_SIZE", "F_IMM_LO", "F_IMM_HI",
           "F_TARGET", "F_FREAD", "F_FSET", "F_FUNDEF", "NONE", "REG", "IMM", "MEM", "OPS", "OP", "ALWAYS",
           "FAULT_NONE", "FAULT_MEMORY", "FAULT_FLAG", "GROUPS", "ALL_OPS"]

U32 = jnp.uint32
ONES, ZERO = np.uint32(0xFFFFFFFF), np.uint32(0)

# Token fields.
(F_VALID, F_OP, F_WIDE, F_COND, F_A, F_AREG, F_B, F_BREG, F_DST, F_DREG, F_BASE, F_INDEX, F_SHIFT,
 F_DISP, F_SIZE, F_IMM_LO, F_IMM_HI, F_TARGET, F_FREAD, F_FSET, F_FUNDEF) = range(21)
N_FIELDS = 21
# Operand kinds (F_A, F_B, F_DST).
NONE, REG, IMM, MEM = 0, 1, 2, 3
# Operation classes (F_OP).
OPS = ("mov", "add", "sub", "cmp", "and", "or", "xor", "not", "neg", "shl", "shr", "sar", "rol",
       "ror", "imul", "mul", "lea", "cmov", "jump")
OP = {name: i for i, name in enumerate(OPS)}
ALWAYS = len(CONDITIONS)  # F_COND of jmp
FAULT_NONE, FAULT_MEMORY, FAULT_FLAG = 0, 1, 2


@struct.dataclass
class Machine:
    """The state of one input (add leading axes with vmap).

    Attributes:
      regs: [16, 2] uint32, (lo, hi) of each register in encoding order.
      flags: [4] bool, CF ZF SF OF.
      defined: [4] bool, which flags have a defined value.
      memory: [M + 8] uint8, the data region and 8 bytes of padding that no valid access reads.
      pc: [] int32, index of the next instruction.
      executed: [] int32, instructions executed.
      fault: [] int32, FAULT_NONE, FAULT_MEMORY or FAULT_FLAG; a faulted input stops.
      fault_at: [] int32, the instruction that faulted.
    """
    regs: jax.Array
    flags: jax.Array
    defined: jax.Array
    memory: jax.Array
    pc: jax.Array
    executed: jax.Array
    fault: jax.Array
    fault_at: jax.Array

    @property
    def data_size(self) -> int:
        return self.memory.shape[-1] - 8


def dwords(memory: jax.Array, first: int, count: int) -> jax.Array:
    """[..., count] uint32: the little-endian dwords at byte 4*first of `memory` [..., bytes]."""
    data = memory[..., 4 * first:4 * (first + count)].reshape(memory.shape[:-1] + (count, 4)).astype(U32)
    return data[..., 0] | (data[..., 1] << 8) | (data[..., 2] << 16) | (data[..., 3] << 24)


def _mask(flag_set) -> int:
    return sum(1 << f for f in flag_set)


def _operand(token, kind_field, reg_field, op):
    if isinstance(op, Reg):
        token[kind_field], token[reg_field] = REG, op.number
    elif isinstance(op, Imm):
        token[kind_field] = IMM
        token[F_IMM_LO], token[F_IMM_HI] = np.array([op.value % 2**64], np.uint64).view(np.int32)
    elif isinstance(op, Mem):
        token[kind_field] = MEM
        token[F_BASE] = REGISTERS_64.index(op.base)
        token[F_INDEX] = REGISTERS_64.index(op.index) if op.index else -1
        token[F_SHIFT] = op.scale.bit_length() - 1
        token[F_DISP], token[F_SIZE] = op.disp, op.size


def encode(ins: Instruction) -> np.ndarray:
    """The token of one instruction: [N_FIELDS] int32 (jump targets as instruction indices)."""
    t = np.zeros(N_FIELDS, np.int32)
    t[F_VALID], t[F_WIDE], t[F_INDEX] = 1, ins.bits == 64, -1
    m, ops = ins.mnemonic, ins.operands
    cond = fl.condition(ins)
    t[F_COND] = CONDITIONS.index(cond) if cond else ALWAYS
    if m in ("mov", "movabs"):
        t[F_OP] = OP["mov"]
        _operand(t, F_B, F_BREG, ops[1])
        _operand(t, F_DST, F_DREG, ops[0])
    elif m in ALU or m in SHIFTS or m.startswith("cmov") or (m == "imul" and len(ops) == 2):
        t[F_OP] = OP["cmov" if m.startswith("cmov") else m]
        _operand(t, F_A, F_AREG, ops[0])
        _operand(t, F_B, F_BREG, ops[1])
        if m != "cmp":
            _operand(t, F_DST, F_DREG, ops[0])
    elif m == "imul":  # imul dst, src, imm: a = src, b = imm
        t[F_OP] = OP["imul"]
        _operand(t, F_A, F_AREG, ops[1])
        _operand(t, F_B, F_BREG, ops[2])
        _operand(t, F_DST, F_DREG, ops[0])
    elif m in ("not", "neg"):
        t[F_OP] = OP[m]
        _operand(t, F_A, F_AREG, ops[0])
        _operand(t, F_DST, F_DREG, ops[0])
    elif m == "mul":  # rdx:rax = rax * src
        t[F_OP] = OP["mul"]
        t[F_A], t[F_AREG] = REG, 0
        _operand(t, F_B, F_BREG, ops[0])
        t[F_DST], t[F_DREG] = REG, 0
    elif m == "lea":
        t[F_OP] = OP["lea"]
        _operand(t, F_B, F_BREG, ops[1])
        t[F_B] = NONE  # the address is the value: nothing is read from memory
        _operand(t, F_DST, F_DREG, ops[0])
    else:  # jumps
        t[F_OP] = OP["jump"]
        t[F_TARGET] = ins.target
    fset, fundef = fl.flags_written(ins)
    t[F_FREAD], t[F_FSET], t[F_FUNDEF] = _mask(fl.flags_read(ins)), _mask(fset), _mask(fundef)
    return t


def encode_program(program: Program, length: int | None = None) -> np.ndarray:
    """[length, N_FIELDS] int32 tokens; positions past the program are invalid (no-op) tokens."""
    length = len(program) if length is None else length
    if length < len(program):
        raise ValueError(f"length {length} is shorter than the program ({len(program)})")
    tokens = np.zeros((length, N_FIELDS), np.int32)
    for i, ins in enumerate(program):
        tokens[i] = encode(ins)
    return tokens


def init(registers: jax.Array, memory: jax.Array) -> Machine:
    """The machine state of one input before the first instruction.

    Args:
      registers: [16, 2] uint32 register pairs (rsp and rdi are set here).
      memory: [M] uint8 data region.
    """
    regs = jnp.asarray(registers, U32)
    regs = regs.at[4].set(jnp.array([STACK_TOP, 0], U32)).at[7].set(jnp.array([DATA_BASE, 0], U32))
    mem = jnp.concatenate([jnp.asarray(memory, jnp.uint8), jnp.zeros(8, jnp.uint8)])
    z = jnp.int32(0)
    return Machine(regs, jnp.zeros(4, bool), jnp.zeros(4, bool), mem, z, z, z, jnp.int32(-1))


def _bits(mask):
    return ((mask >> jnp.arange(4)) & 1).astype(bool)


def _narrow(x, wide):
    return x[0], jnp.where(wide, x[1], 0).astype(U32)


def _condition(cond, f):
    cf, zf, sf, of = f[0], f[1], f[2], f[3]
    return jax.lax.select_n(cond, sf != of, zf | (sf != of), ~zf & (sf == of), sf == of, zf, ~zf,
                            cf, cf | zf, ~cf & ~zf, ~cf, jnp.bool_(True))


def _funnel(words, s):
    """Bits [s, s + 64) of the 128-bit value `words` (4 uint32, low first), s in [0, 64]."""
    q, r = s >> 5, s & 31
    pick = lambda k: jax.lax.select_n(jnp.minimum(q, 2).astype(jnp.int32), words[k], words[k + 1], words[k + 2])
    w0, w1 = pick(0), pick(1)
    w2 = jnp.where(q == 0, words[2], words[3])  # at q = 2, r = 0 and this word is shifted out
    return (w0 >> r) | (w1 << (32 - r)), (w1 >> r) | (w2 << (32 - r))


def _bit(words, k):
    k = k & 127  # an out-of-range k only comes from a zero count, whose flags are not used
    word = jax.lax.select_n((k >> 5).astype(jnp.int32), *words)
    return ((word >> (k & 31)) & 1).astype(bool)


# Operation classes by the datapath that computes them; a group a batch cannot use is compiled
# out (`ops=`), which is what a game with a fixed vocabulary gets.
GROUPS = (("add", "sub", "cmp", "neg"), ("and", "or", "xor", "not"), ("shl", "shr", "sar", "rol", "ror"),
          ("imul", "mul"))
ALL_OPS = frozenset(OPS)


def _helpers(wide):
    msb = lambda x: jnp.where(wide, x[1] >> 31, x[0] >> 31).astype(bool)
    pick = lambda c64, c32: jnp.where(wide, c64, c32)
    pair = lambda c, x, y: (jnp.where(c, x[0], y[0]), jnp.where(c, x[1], y[1]))
    return msb, pick, pair


def _adder(op, a, b, wide, zeros):
    """add, sub, cmp and neg on one adder: x + y + carry_in, with sub as x + ~b + 1."""
    msb, pick, pair = _helpers(wide)
    is_neg = op == OP["neg"]
    is_sub = (op == OP["sub"]) | (op == OP["cmp"]) | is_neg
    invert = lambda v: (~v[0], ~v[1])
    x = pair(is_neg, (zeros, zeros), a)
    y = pair(is_neg, invert(a), pair(is_sub, invert(b), b))
    s1, c64a, c32a = u64.add(x, y)
    total, c64b, c32b = u64.add(s1, (is_sub.astype(U32), zeros))
    carry = pick(c64a | c64b, c32a | c32b)
    of = msb(((x[0] ^ total[0]) & (y[0] ^ total[0]), (x[1] ^ total[1]) & (y[1] ^ total[1])))
    return total, carry ^ is_sub, of  # a borrow is the inverted carry


def _logic(op, a, b):
    res = jax.lax.select_n(jnp.clip(op - OP["and"], 0, 3).astype(jnp.int32),
                           jnp.stack([a[0] & b[0], a[1] & b[1]]), jnp.stack([a[0] | b[0], a[1] | b[1]]),
                           jnp.stack([a[0] ^ b[0], a[1] ^ b[1]]), jnp.stack([~a[0], ~a[1]]))
    no = jnp.zeros(a[0].shape, bool)
    return (res[0], res[1]), no, no


def _shift(op, a, wide, count, zeros):
    """Every shift and rotation as one right funnel shift of a 128-bit value."""
    msb, _, _ = _helpers(wide)
    width = jnp.where(wide, 64, 32).astype(U32)
    left = (op == OP["shl"]) | (op == OP["rol"])
    rotate = (op == OP["rol"]) | (op == OP["ror"])
    sign = jnp.where(msb(a) & (op == OP["sar"]), ONES, ZERO)
    fill = jnp.where(rotate, a[0], sign)  # what enters from above (32-bit: the low word again)
    w64 = [jnp.where(left & ~rotate, zeros, a[0]), jnp.where(left & ~rotate, zeros, a[1]),
           jnp.where(rotate | left, a[0], sign), jnp.where(rotate | left, a[1], sign)]
    w32 = [jnp.where(left & ~rotate, zeros, a[0]), jnp.where(left & ~rotate, a[0], fill), zeros, zeros]
    words = [jnp.where(wide, u, v) for u, v in zip(w64, w32)]
    s = jnp.where(left, width - count, count)
    shifted = _funnel(words, s)
    cf = jnp.where(left, _bit(words, s + width), _bit(words, s - 1))
    second = (jnp.where(wide, shifted[1] >> 30, shifted[0] >> 30) & 1).astype(bool)
    of = jax.lax.select_n(jnp.clip(op - OP["shl"], 0, 4).astype(jnp.int32),
                          msb(shifted) ^ cf, msb(a), jnp.zeros_like(cf), msb(shifted) ^ cf, msb(shifted) ^ second)
    return shifted, cf, of


def _products(op, a, b, wide, zeros):
    """imul (low half of the signed product, OF when it does not fit) and mul (rdx:rax)."""
    msb, pick, pair = _helpers(wide)
    w01, w23 = u64.mul128(a, b)
    a_neg, b_neg = msb(a), msb(b)
    hi_s, _, _ = u64.sub(w23, u64.where(a_neg & wide, b))
    hi_s, _, _ = u64.sub(hi_s, u64.where(b_neg & wide, a))
    low_sign = jnp.where(w01[1] >> 31, ONES, ZERO)
    imul64_of = (hi_s[0] != low_sign) | (hi_s[1] != low_sign)
    p32 = u64.mul32(a[0], b[0])  # 32-bit: the 64-bit product of the low words, made signed
    hi32 = p32[1] - jnp.where(a_neg, b[0], 0).astype(U32) - jnp.where(b_neg, a[0], 0).astype(U32)
    imul_of = pick(imul64_of, hi32 != jnp.where(p32[0] >> 31, ONES, ZERO))
    mul_of = jnp.where(wide, (w23[0] | w23[1]) != 0, p32[1] != 0)
    is_mul = op == OP["mul"]
    res = pair(is_mul, pair(wide, w01, (p32[0], zeros)), w01)
    flag = jnp.where(is_mul, mul_of, imul_of)
    return res, flag, flag, pair(wide, w23, (p32[1], zeros))


def _alu(op, a, b, wide, count, ops):
    """Result and CF/OF of the operation class `op` on a, b (the caller takes ZF and SF from the
    final result). Only the groups in `ops` are built. Returns (result, rdx of mul, cf, of)."""
    zeros = jnp.zeros_like(a[0])
    no = jnp.zeros(a[0].shape, bool)
    outcomes = [(b, no, no)]  # mov, lea, cmov and jumps: the caller picks their value
    group = jnp.zeros(op.shape, jnp.int32)
    mul_hi = (zeros, zeros)
    makers = [lambda: _adder(op, a, b, wide, zeros), lambda: _logic(op, a, b),
              lambda: _shift(op, a, wide, count, zeros), lambda: _products(op, a, b, wide, zeros)]
    for members, make in zip(GROUPS, makers):
        if not ops.intersection(members):
            continue
        out = make()
        if len(out) == 4:
            mul_hi = out[3]
        outcomes.append(out[:3])
        inside = functools.reduce(jnp.logical_or, [op == OP[name] for name in members])
        group = jnp.where(inside, len(outcomes) - 1, group)
    if len(outcomes) == 1:
        return b, mul_hi, no, no
    pick = lambda k: jax.lax.select_n(group, *[o[k] if k else jnp.stack(o[0]) for o in outcomes])
    result = pick(0)
    return (result[0], result[1]), mul_hi, pick(1), pick(2)


def step(m: Machine, token: jax.Array, position, *, ops: frozenset = ALL_OPS) -> Machine:
    """Executes the instruction `token` at `position` if this input's program counter is there.

    Args:
      m: the `Machine` of one input.
      token: [N_FIELDS] int32.
      position: [] int32, the index of this instruction in the program.
      ops: the operation classes (names in `OPS`) the token may have; the datapaths of the
        others are compiled out. A token outside the set computes a wrong result: callers
        check it once, outside jit (`run_batch` does; a game's vocabulary fixes it).
    Returns:
      The next `Machine`. An input elsewhere (jumped over this position), finished or faulted
      is returned unchanged.
    """
    t = token
    wide = t[F_WIDE].astype(bool)
    size = m.data_size
    active = (m.pc == position) & (m.fault == FAULT_NONE) & (t[F_VALID] == 1)

    read_reg = lambda r: _narrow((m.regs[r, 0], m.regs[r, 1]), wide)
    imm = _narrow((t[F_IMM_LO].astype(U32), t[F_IMM_HI].astype(U32)), wide)

    # The address of the memory operand (64-bit wrapping, as the CPU computes it).
    base = (m.regs[t[F_BASE], 0], m.regs[t[F_BASE], 1])
    index = u64.shl((m.regs[t[F_INDEX], 0], m.regs[t[F_INDEX], 1]), t[F_SHIFT].astype(U32))
    index = u64.where(t[F_INDEX] >= 0, index)
    disp = (t[F_DISP].astype(U32), jnp.where(t[F_DISP] < 0, ONES, ZERO).astype(U32))
    address, _, _ = u64.add(u64.add(base, index)[0], disp)
    offset, _, _ = u64.sub(address, (jnp.uint32(DATA_BASE), jnp.uint32(0)))
    limit = size - t[F_SIZE]  # the last valid offset; negative if the region is too small
    in_bounds = (offset[1] == 0) & (limit >= 0) & (offset[0] <= limit.astype(U32))
    touches = (t[F_A] == MEM) | (t[F_B] == MEM) | (t[F_DST] == MEM)
    start = jnp.where(in_bounds, offset[0], 0).astype(jnp.int32)
    window = jax.lax.dynamic_slice(m.memory, (start,), (8,)).astype(U32)
    lane = jnp.arange(8, dtype=U32)
    loaded_lo = window[0] | (window[1] << 8) | (window[2] << 16) | (window[3] << 24)
    loaded_hi = jnp.where(t[F_SIZE] == 8, window[4] | (window[5] << 8) | (window[6] << 16) | (window[7] << 24), 0)
    loaded = (loaded_lo, loaded_hi.astype(U32))

    def value(kind, reg):
        r = read_reg(reg)
        return (jnp.select([kind == REG, kind == IMM, kind == MEM], [r[0], imm[0], loaded[0]], 0).astype(U32),
                jnp.select([kind == REG, kind == IMM, kind == MEM], [r[1], imm[1], loaded[1]], 0).astype(U32))

    a = value(t[F_A], t[F_AREG])
    b = value(t[F_B], t[F_BREG])
    op = t[F_OP]
    count = jnp.where(wide, imm[0] & 63, imm[0] & 31).astype(U32)
    result, mul_hi, cf, of = _alu(op, a, b, wide, count, ops)
    taken = _condition(t[F_COND], m.flags)
    result = jnp.where(op == OP["lea"], jnp.stack(_narrow(address, wide)), jnp.stack(result))
    result = jnp.where((op == OP["cmov"]) & ~taken, jnp.stack(a), result)
    result = _narrow((result[0], result[1]), wide)
    zf = jnp.where(wide, (result[0] | result[1]) == 0, result[0] == 0)
    sf = jnp.where(wide, result[1] >> 31, result[0] >> 31).astype(bool)
    new_flags = jnp.stack([cf, zf, sf, of])

    flag_fault = jnp.any(_bits(t[F_FREAD]) & ~m.defined)
    mem_fault = touches & ~in_bounds
    fault = jnp.where(flag_fault, FAULT_FLAG, jnp.where(mem_fault, FAULT_MEMORY, FAULT_NONE))
    go = active & (fault == FAULT_NONE)

    which = jnp.arange(16)
    write_reg = go & (t[F_DST] == REG)
    new = jnp.stack(result, -1)
    regs = jnp.where(((which == t[F_DREG]) & write_reg)[:, None], new[None, :], m.regs)
    regs = jnp.where(((which == 2) & go & (op == OP["mul"]))[:, None], jnp.stack(mul_hi, -1)[None, :], regs)
    store = go & (t[F_DST] == MEM)
    value_bytes = jnp.concatenate([(result[0] >> (8 * lane[:4])), (result[1] >> (8 * lane[:4]))]).astype(jnp.uint8)
    new_window = jnp.where(store & (lane < t[F_SIZE].astype(U32)), value_bytes, window.astype(jnp.uint8))
    memory = jax.lax.dynamic_update_slice(m.memory, new_window, (start,))

    fset, fundef = _bits(t[F_FSET]), _bits(t[F_FUNDEF])
    flags = jnp.where(go & fset, new_flags, m.flags)
    defined = jnp.where(go, (m.defined | fset) & ~fundef, m.defined)
    jump = op == OP["jump"]
    pc = jnp.where(go, jnp.where(jump & taken, t[F_TARGET], position + 1), m.pc)
    return Machine(regs=regs, flags=flags, defined=defined, memory=memory, pc=pc.astype(jnp.int32),
                   executed=m.executed + go.astype(jnp.int32) + (active & (fault == FAULT_MEMORY)),
                   fault=jnp.where(active, fault, m.fault).astype(jnp.int32),
                   fault_at=jnp.where(active & (fault != FAULT_NONE), position, m.fault_at).astype(jnp.int32))


def run(tokens: jax.Array, m: Machine, *, ops: frozenset = ALL_OPS) -> Machine:
    """Runs a whole program ([L, N_FIELDS] tokens) on one input."""
    def body(machine, xs):
        token, position = xs
        return step(machine, token, position, ops=ops), None
    out, _ = jax.lax.scan(body, m, (tokens, jnp.arange(tokens.shape[0], dtype=jnp.int32)))
    return out


def ops_of(tokens: np.ndarray) -> frozenset:
    """The operation classes that valid tokens [..., N_FIELDS] use."""
    tokens = np.asarray(tokens)
    return frozenset(OPS[k] for k in np.unique(tokens[..., F_OP][tokens[..., F_VALID] == 1]))


@functools.partial(jax.jit, static_argnames="ops")
def _run_batch(tokens, registers, memory, ops):
    per_input = jax.vmap(lambda tk, r, mem: run(tk, init(r, mem), ops=ops), in_axes=(None, 0, 0))
    return jax.vmap(per_input)(tokens, registers, memory)


def run_batch(tokens, registers, memory, *, ops: frozenset = ALL_OPS) -> Machine:
    """Runs P programs on I inputs each (jit-compiled once per shape and `ops`).

    Args:
      tokens: [P, L, N_FIELDS] int32.
      registers: [P, I, 16, 2] uint32.
      memory: [P, I, M] uint8.
      ops: operation classes to compile in (see `step`); checked against the tokens here.
    Returns:
      A `Machine` with leading axes [P, I].
    """
    tokens = np.asarray(tokens)
    if tokens.ndim != 3 or tokens.shape[-1] != N_FIELDS:
        raise ValueError(f"tokens must be [P, L, {N_FIELDS}], got {tokens.shape}")
    if np.shape(registers)[:1] != tokens.shape[:1] or np.shape(registers)[2:] != (16, 2):
        raise ValueError(f"registers must be [P, I, 16, 2] with P={tokens.shape[0]}, got {np.shape(registers)}")
    if np.shape(memory)[:2] != np.shape(registers)[:2]:
        raise ValueError(f"memory must be [P, I, M] matching registers, got {np.shape(memory)}")
    missing = ops_of(tokens) - frozenset(ops)
    if missing:
        raise ValueError(f"tokens use operation classes {sorted(missing)} that ops= leaves out")
    return _run_batch(tokens, registers, memory, frozenset(ops))


def _bucket(n: int) -> int:
    return max(8, 1 << (max(n, 1) - 1).bit_length())  # few lengths, few compilations


def execute(program: Program, inputs: Inputs) -> Execution:
    """`isa.execute(..., backend="jax")`: runs one program through `run_batch`."""
    tokens = encode_program(program, _bucket(len(program)))[None]
    regs = u64.split(inputs.registers)[None]
    out = jax.device_get(run_batch(tokens, regs, inputs.memory[None]))
    faults = []
    for code, at in zip(out.fault[0], out.fault_at[0]):
        kind = {FAULT_NONE: None, FAULT_MEMORY: BAD_MEMORY, FAULT_FLAG: UNDEFINED_FLAG}[int(code)]
        faults.append(kind and fault_reason(kind, program, int(at)))
    registers = u64.join(out.regs[0])
    return Execution(registers, np.asarray(out.memory[0, :, :-8]), np.asarray(out.flags[0]),
                     np.asarray(out.defined[0]), np.asarray(out.executed[0], np.int64), faults)
