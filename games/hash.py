"""hash9to16: `uint64_t hash(const uint8_t *p, size_t len, uint64_t state)` for 9 <= len <= 16.

`rdi` = p, `rsi` = len, `rdx` = state; the result is `rax`. There is no single right output, so
correctness is hash quality on a fixed corpus, measured five ways:
  - collisions (inputs minus distinct values) on the low 8, low 16, low 32 and high 32 bits;
  - avalanche: over pairs of inputs one bit apart (in the string or in the state), the mean
    fraction of the 64 output bits that flip (0.5 is ideal).
A program is correct when no input faults, each collision count is at most
`1.25 x reference + 2` and its avalanche is within 0.02 of the reference's distance from 0.5;
the reference is Abseil's two-multiply mix (before 2023). The game rewards the mean of five
scores in [0, 1]: distinct values over what a random function would give, per bit range, and
1 - 2 |avalanche - 0.5|.

Corpus (fixed seed): 192 random strings of random length with one random state; 4 base strings
(lengths 9, 12, 13, 16) each with 16 one-bit flips spread over the string; one string with 16
states one bit apart; and 16-byte strings that defeat symmetric combinations of the two words:
16 with lo + hi constant, 16 with lo ^ hi constant, 8 pairs with the halves swapped. 324 inputs.

The search optimizes against this corpus, so verification judges more: `HashTask.battery`
(games/hash_battery.py), several thousand keys in families weak mixes fail, with thresholds
taken from both Abseil references on those keys.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

import isa
from games.actions import slot_key
from games.config import Config
from games.hash_battery import HashBattery
from games.task import CReference, Param, Reference, Signature, Task

__all__ = ["HashTask", "abseil_2022", "abseil_2023", "corpus", "quality", "ABSEIL_2022", "ABSEIL_2023", "K_MUL"]

K_MUL = 0x9DDFEA08EB382D69
MASK64 = 2**64 - 1
HASH_REGISTERS = ("rax", "rcx", "r8", "r9", "r10", "r11")
ROTATIONS = (8, 13, 16, 24, 29, 32, 53)
LO, HI = isa.Mem(64, "rdi"), isa.Mem(64, "rdi", "rsi", 1, -8)
COLLISION_SLACK, COLLISION_FACTOR, AVALANCHE_SLACK = 2, 1.25, 0.02
METRICS = ("low 8 bits", "low 16 bits", "low 32 bits", "high 32 bits")


def mix(state: int, v: int) -> int:
    m = ((state + v) & MASK64) * K_MUL
    return (m ^ (m >> 64)) & MASK64


def _words(p: bytes) -> tuple[int, int]:
    return int.from_bytes(p[:8], "little"), int.from_bytes(p[-8:], "little")


def abseil_2022(p: bytes, state: int) -> int:
    """Abseil's 9-16 byte hash before 2023: Mix(Mix(state, lo), hi), two 128-bit products."""
    lo, hi = _words(p)
    return mix(mix(state, lo), hi)


def abseil_2023(p: bytes, state: int) -> int:
    """Its January 2023 replacement: one 128-bit product."""
    lo, hi = _words(p)
    lo = ((lo >> 53) | (lo << 11)) & MASK64
    state = (state + K_MUL) & MASK64
    lo = (lo + state) & MASK64
    state ^= hi
    m = state * lo
    return (m ^ (m >> 64)) & MASK64


ABSEIL_2022 = isa.parse(f"""
    mov rax, qword ptr [rdi]
    mov rcx, qword ptr [rdi+rsi-8]
    add rax, rdx
    movabs r8, {K_MUL:#x}
    mul r8
    xor rax, rdx
    add rax, rcx
    mul r8
    xor rax, rdx
""")

ABSEIL_2023 = isa.parse(f"""
    mov rax, qword ptr [rdi]
    mov rcx, qword ptr [rdi+rsi-8]
    ror rax, 53
    movabs r8, {K_MUL:#x}
    add rdx, r8
    add rax, rdx
    xor rdx, rcx
    mul rdx
    xor rax, rdx
""")


def corpus(seed: int = 0) -> tuple[list[bytes], np.ndarray, np.ndarray]:
    """(strings, [I] uint64 states, [P, 2] index pairs one bit apart)."""
    rng = np.random.default_rng(seed)
    state = int(rng.integers(0, 2**63)) * 2 + 1
    strings, states, pairs = [], [], []
    for _ in range(192):
        strings.append(rng.bytes(int(rng.integers(9, 17))))
        states.append(state)
    for length in (9, 12, 13, 16):
        base = rng.bytes(length)
        b = len(strings)
        strings.append(base)
        states.append(state)
        for k in range(16):
            bit = (k * 8 * length) // 16 + int(rng.integers(0, (8 * length) // 16))  # spread over the string
            flipped = bytearray(base)
            flipped[bit // 8] ^= 1 << (bit % 8)
            pairs.append((b, len(strings)))
            strings.append(bytes(flipped))
            states.append(state)
    base, b = rng.bytes(11), len(strings)
    for k in range(16):
        strings.append(base)
        states.append(state if k == 0 else state ^ (1 << (4 * k - 1)))
        if k:
            pairs.append((b, len(strings) - 1))
    # Structured 16-byte strings that defeat a hash combining the two words symmetrically:
    # lo + hi constant, lo ^ hi constant, and the two halves swapped.
    x, y = (int(v) for v in rng.integers(0, 2**63, 2))
    word = lambda lo, hi: (lo & MASK64).to_bytes(8, "little") + (hi & MASK64).to_bytes(8, "little")
    for _ in range(16):
        d = int(rng.integers(0, 2**63))
        strings += [word(x + d, y - d), word(x ^ d, y ^ d)]
        states += [state, state]
    for _ in range(8):
        lo, hi = (int(v) for v in rng.integers(0, 2**63, 2))
        strings += [word(lo, hi), word(hi, lo)]
        states += [state, state]
    return strings, np.array(states, np.uint64), np.array(pairs, np.int32)


def quality(lo, hi, pairs, xp, popcount):
    """([4] collisions per bit range, [] avalanche) of results given as uint32 halves [I]."""
    n = lo.shape[0]

    def distinct(x):
        s = xp.sort(x)
        return 1 + xp.sum(s[1:] != s[:-1])
    collisions = xp.stack([n - distinct(lo & 0xFF), n - distinct(lo & 0xFFFF), n - distinct(lo), n - distinct(hi)])
    a, b = pairs[:, 0], pairs[:, 1]
    flips = popcount(lo[a] ^ lo[b]).astype(xp.float32) + popcount(hi[a] ^ hi[b]).astype(xp.float32)
    return collisions, xp.mean(flips) / 64


def expected_collisions(n: int, bits: int) -> float:
    """Collisions a random function makes among n inputs on `bits` bits."""
    return n - 2**bits * (1 - (1 - 2.0**-bits) ** n)


C_HELPERS = """static inline uint64_t load64(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return v; }
static inline uint64_t mix(uint64_t s, uint64_t v) {
    __uint128_t m = (__uint128_t)(s + v) * 0x9ddfea08eb382d69ULL;
    return (uint64_t)m ^ (uint64_t)(m >> 64);
}
"""
C_ABSEIL_2022 = "    return mix(mix(state, load64(p)), load64(p + len - 8));\n"
C_ABSEIL_2023 = """    uint64_t lo = load64(p), hi = load64(p + len - 8), s = state;
    lo = (lo >> 53) | (lo << 11);
    s += 0x9ddfea08eb382d69ULL; lo += s; s ^= hi;
    __uint128_t m = (__uint128_t)s * lo;
    return (uint64_t)m ^ (uint64_t)(m >> 64);
"""


class HashTask(Task):
    """hash9to16, judged on hash quality over the corpus (module docstring)."""
    name = "hash9to16"
    registers = HASH_REGISTERS
    signature = Signature((Param("p", "const uint8_t *", "rdi"), Param("len", "size_t", "rsi"),
                           Param("state", "uint64_t", "rdx")), ctype="uint64_t", result="rax")
    references = (Reference("Abseil 2022 (asm)", ABSEIL_2022), Reference("Abseil 2023 (asm)", ABSEIL_2023))
    c_references = (CReference("Abseil 2022 (C, gcc -O3)", C_ABSEIL_2022, C_HELPERS),
                    CReference("Abseil 2023 (C, gcc -O3)", C_ABSEIL_2023, C_HELPERS))
    target_lengths = {"human": len(ABSEIL_2023)}
    # The Abseil references take 9 instructions; room for twice that.
    config = Config(max_length=18)
    # Built on first use: verification runs it, the game never does.
    battery = HashBattery(references=(abseil_2022, abseil_2023))

    def __init__(self):
        strings, states, self.pairs = corpus()
        self.lengths = np.array([len(s) for s in strings], np.int32)
        n = len(strings)
        memory = np.zeros((n, 16), np.uint8)
        for i, s in enumerate(strings):
            memory[i, :len(s)] = np.frombuffer(s, np.uint8)
        # Non-argument registers start at zero, so rax earns no quality before the program sets it.
        registers = np.zeros((n, 16), np.uint64)
        registers[:, 6] = self.lengths   # rsi
        registers[:, 2] = states         # rdx
        self.inputs = isa.Inputs(registers, memory)
        self.slots = {slot_key(LO): 0, slot_key(HI): 1}
        self.reference = np.array([abseil_2022(s, int(st)) for s, st in zip(strings, states)], np.uint64)
        ref_coll, ref_aval = self._quality_np(self.reference)
        self.allowed = np.ceil(COLLISION_FACTOR * ref_coll) + COLLISION_SLACK
        self.avalanche_tolerance = abs(ref_aval - 0.5) + AVALANCHE_SLACK
        self.random_distinct = np.array([n - expected_collisions(n, b) for b in (8, 16, 32, 32)], np.float32)
        self.vocabulary = tuple(self._vocabulary())
        # executions() runs the corpus grouped by length; this puts the results back in order.
        self._by_length = np.argsort(self.lengths, kind="stable")

    @staticmethod
    def _vocabulary() -> list:
        regs = [isa.Reg(r) for r in HASH_REGISTERS]
        writable = regs + [isa.Reg("rdx")]
        sources = writable + [isa.Reg("rsi")]
        vocab: list = [isa.Instruction("mov", (r, m)) for m in (LO, HI) for r in regs]
        vocab += [isa.Instruction("movabs", (r, isa.Imm(K_MUL))) for r in regs]
        vocab += [isa.Instruction(op, (d, s)) for op in ("mov", "add", "sub", "xor", "imul")
                  for d in writable for s in sources if d != s]
        vocab += [isa.Instruction(op, (d, isa.Imm(k))) for op, ks in (("ror", ROTATIONS), ("shr", (29, 32)))
                  for d in writable for k in ks]
        vocab += [isa.Instruction("mul", (s,)) for s in sources]
        return vocab

    def _quality_np(self, results: np.ndarray):
        lo = (results & np.uint64(0xFFFFFFFF)).astype(np.uint32)
        hi = (results >> np.uint64(32)).astype(np.uint32)
        coll, aval = quality(lo, hi, self.pairs, np, np.bitwise_count)
        return np.asarray(coll, np.float64), float(aval)

    def _items(self, collisions, avalanche, xp):
        n = len(self.lengths)
        spread = xp.minimum((n - collisions) / self.random_distinct, 1.0)
        return (xp.sum(spread) + 1 - 2 * xp.abs(avalanche - 0.5)) / 5

    def jax_judge(self, machine, outside):
        rax = machine.regs[:, 0]
        ok = (machine.fault == 0) & ~outside
        lo, hi = jnp.where(ok, rax[:, 0], 0), jnp.where(ok, rax[:, 1], 0)
        collisions, avalanche = quality(lo, hi, jnp.asarray(self.pairs), jnp, jax.lax.population_count)
        items = self._items(collisions.astype(jnp.float32), avalanche, jnp)
        correct = ok.all() & jnp.all(collisions <= jnp.asarray(self.allowed)) \
            & (jnp.abs(avalanche - 0.5) <= self.avalanche_tolerance)
        return items.astype(jnp.float32), correct

    def executions(self, program, backend):
        # Each length runs with a data region of exactly that many bytes.
        runs = []
        for length in np.unique(self.lengths):
            rows = np.flatnonzero(self.lengths == length)
            sub = isa.Inputs(self.inputs.registers[rows], self.inputs.memory[rows, :length])
            runs.append((isa.execute(program, sub, backend), sub))
        return runs

    def assess(self, runs):
        """Hash quality on the corpus; inputs count as correct when they ran without a fault."""
        results = np.concatenate([run.registers[:, 0] for run, _ in runs])
        faults = [f for run, _ in runs for f in run.fault]
        order = np.empty_like(self._by_length)
        order[self._by_length] = np.arange(len(order))
        results, faults = results[order], [faults[k] for k in order]
        ok = np.array([f is None for f in faults])
        results = np.where(ok, results, np.uint64(0))
        collisions, avalanche = self._quality_np(results)
        reason = next((f"input {i}: {f}" for i, f in enumerate(faults) if f), None)
        for name, c, allowed in zip(METRICS, collisions, self.allowed):
            if reason is None and c > allowed:
                reason = f"{name}: {int(c)} collisions, at most {int(allowed)} allowed"
        if reason is None and abs(avalanche - 0.5) > self.avalanche_tolerance:
            reason = f"avalanche {avalanche:.3f}, must be within {self.avalanche_tolerance:.3f} of 0.5"
        return float(self._items(collisions, avalanche, np)), int(ok.sum()), reason

    def random_inputs(self, n: int, seed: int) -> list[isa.Inputs]:
        """Random strings of every length 9..16 (one group per length, region exactly that
        long), with random states: they must run without a fault."""
        rng = np.random.default_rng(seed)
        lengths = rng.integers(9, 17, n)
        groups = []
        for length in np.unique(lengths):
            rows = int((lengths == length).sum())
            regs = rng.integers(0, 2**64 - 1, (rows, 16), dtype=np.uint64, endpoint=True)
            regs[:, 6] = length
            groups.append(isa.Inputs(regs, rng.integers(0, 256, (rows, length), dtype=np.uint8)))
        return groups
