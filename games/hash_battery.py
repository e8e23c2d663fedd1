"""hash9to16's independent quality battery: what verification judges besides the corpus.

The search optimizes against the corpus (games/hash.py), so a program can fit it and still be a
weak hash. The battery is a larger set of keys the search never sees (fixed seed), in families
that weak mixes fail, strings of every length 9..16 among them:

  sparse        every key of each length with one bit set, random keys with two or three bits
                set, one state; pairs: the zero key against each one-bit key.
  one bit       random keys of every length, each against variants with one bit flipped in the
                string, in the state, or in the length (the same bytes read at a length one bit
                apart, where both lengths lie in 9..16).
  two bits      the same with two bits flipped: string and string, string and state, state and
                state, length and string or state.
  cyclic        strings repeating a random pattern of 1..8 bytes, every length, one state.
  zero-heavy    zero strings with one to three random nonzero bytes, every length, one state.
  words         16-byte strings with the two words swapped (pairs), equal, with a constant sum
                or a constant xor; shorter strings whose first and last 8 bytes are equal.
  state sweep   three fixed keys (the zero key among them) under the states 0..127, every
                one-bit state and random states; pairs: states one bit apart.

Per family, and over all keys and pairs together ("all"), as in the corpus: collisions (keys
minus distinct results) on the low 8, 16, 32 and high 32 bits; the avalanche bias, |the mean
fraction of the 64 result bits that flip between a pair's two inputs - 0.5|; and the worst
output bit's bias, the largest |fraction of pairs in which that bit flips - 0.5|.

Keys: a hash of this signature sees the string's first and last 8 bytes (its words), the length
and the state; Abseil's 9-16 byte function reads only the words and the state (its caller mixes
the length in separately). Collisions are counted over one input per distinct (words, state) of
a family, since any function of those must map equal ones alike, and pairs whose words and state
are equal are left out.

Thresholds: a figure passes when it is at most the worse of Abseil 2022's, Abseil 2023's and a
random function's expected figure on the same keys and pairs, plus five standard deviations of
a random function's figure (and at least 2 collisions). The references set the bar because the
battery is structured: they show what a good hash of this shape does on it (Abseil 2022, for
one, maps a state one bit up and a first word one bit down to the same hash, which the two-bit
family can draw). The random function's expectation keeps a lucky reference from setting the bar
too low, and five of its standard deviations keep a hash as good as a random function from
failing a figure by chance (below 1 in 1,000 per figure).
"""
from __future__ import annotations

import dataclasses
import functools
import hashlib
from typing import Callable, Sequence

import numpy as np
from scipy import stats

import isa
from games.task import Battery, Check, FamilyVerdict, Verdict

__all__ = ["HashBattery", "Family", "build", "figures", "random_function_figures", "METRICS"]

SEED = 1016  # the battery's own; the corpus uses another
LENGTHS = range(9, 17)
SIGMAS = 5
MIN_COLLISION_MARGIN = 2
COLLISION_METRICS = ("low 8 bits collisions", "low 16 bits collisions", "low 32 bits collisions",
                     "high 32 bits collisions")
METRICS = COLLISION_METRICS + ("avalanche bias", "worst output bit bias")
MASK64 = 2**64 - 1
RSI, RDX = 6, 2  # register numbers of the length and the state

Model = Callable[[bytes, int], int]  # (string, state) -> hash


@dataclasses.dataclass(frozen=True)
class Family:
    """A family of battery inputs.

    Attributes:
      name: as the module docstring names it.
      rows: [n] the battery inputs in the family.
      keys: [k] of which one per distinct (first word, last word, state): collisions count these.
      pairs: [P, 2] battery inputs whose results avalanche is measured between.
    """
    name: str
    rows: np.ndarray
    keys: np.ndarray
    pairs: np.ndarray


class _Inputs:
    """Accumulates battery inputs: a 16-byte buffer, the length of the string read from its
    start, and a state."""

    def __init__(self):
        self.buffers: list[bytes] = []
        self.lengths: list[int] = []
        self.states: list[int] = []

    def add(self, buffer: bytes, length: int, state: int) -> int:
        assert len(buffer) == 16 and length in LENGTHS
        self.buffers.append(bytes(buffer))
        self.lengths.append(length)
        self.states.append(state & MASK64)
        return len(self.lengths) - 1

    def words(self, row: int) -> tuple[bytes, bytes, int]:
        """What Abseil's function reads of an input: first word, last word, state."""
        s = self.buffers[row][:self.lengths[row]]
        return s[:8], s[-8:], self.states[row]


def _state(rng) -> int:
    return int(rng.integers(0, 2**64, dtype=np.uint64))


def _flip(buffer: bytes, *bits: int) -> bytes:
    flipped = bytearray(buffer)
    for bit in bits:
        flipped[bit // 8] ^= 1 << (bit % 8)
    return bytes(flipped)


def _length_flips(length: int) -> list[int]:
    """Lengths one bit from `length` that lie in 9..16."""
    return [length ^ 1 << k for k in range(5) if length ^ 1 << k in LENGTHS]


def _sparse(inputs: _Inputs, rng) -> tuple[list, list]:
    state, rows, pairs = _state(rng), [], []
    for length in LENGTHS:
        zero = inputs.add(bytes(16), length, state)
        rows.append(zero)
        for bit in range(8 * length):
            rows.append(inputs.add(_flip(bytes(16), bit), length, state))
            pairs.append((zero, rows[-1]))
        for bits, count in ((2, 24), (3, 16)):
            for _ in range(count):
                chosen = (int(b) for b in rng.choice(8 * length, bits, replace=False))
                rows.append(inputs.add(_flip(bytes(16), *chosen), length, state))
    return rows, pairs


def _variants(inputs: _Inputs, rng, *, bits: int, bases: int, flips: Sequence[tuple[str, ...]]):
    """Random bases of every length, each against variants flipping `bits` bits: one variant per
    entry of `flips`, which names where each bit lies ("string", "state" or "length"; a length
    flip is drawn among those that keep it in 9..16, and a string bit in its place where none
    does)."""
    rows, pairs = [], []
    for length in LENGTHS:
        for _ in range(bases):
            buffer, state = rng.bytes(16), _state(rng)
            base = inputs.add(buffer, length, state)
            rows.append(base)
            for where in flips:
                assert len(where) == bits
                b, n, s = buffer, length, state
                string_bits = iter(int(x) for x in rng.choice(8 * length, bits, replace=False))
                state_bits = iter(int(x) for x in rng.choice(64, bits, replace=False))
                for place in where:
                    if place == "length" and _length_flips(length):
                        n = int(rng.choice(_length_flips(length)))
                    elif place == "state":
                        s ^= 1 << next(state_bits)
                    else:
                        b = _flip(b, next(string_bits))
                rows.append(inputs.add(b, n, s))
                pairs.append((base, rows[-1]))
    return rows, pairs


def _one_bit(inputs: _Inputs, rng):
    flips = [("string",)] * 16 + [("state",)] * 8 + [("length",)] * 2
    return _variants(inputs, rng, bits=1, bases=8, flips=flips)


def _two_bits(inputs: _Inputs, rng):
    flips = ([("string", "string")] * 6 + [("string", "state")] * 4 + [("state", "state")] * 2
             + [("length", "string")] * 2 + [("length", "state")] * 2)
    return _variants(inputs, rng, bits=2, bases=6, flips=flips)


def _cyclic(inputs: _Inputs, rng):
    state = _state(rng)
    rows = [inputs.add((rng.bytes(period) * 16)[:16], length, state)
            for length in LENGTHS for period in range(1, 9) for _ in range(6)]
    return rows, []


def _zero_heavy(inputs: _Inputs, rng):
    state, rows = _state(rng), []
    for length in LENGTHS:
        for nonzero, count in ((1, 32), (2, 16), (3, 8)):
            for _ in range(count):
                buffer = bytearray(16)
                for position in rng.choice(length, nonzero, replace=False):
                    buffer[position] = int(rng.integers(1, 256))
                rows.append(inputs.add(bytes(buffer), length, state))
    return rows, []


def _words(inputs: _Inputs, rng):
    state, rows, pairs = _state(rng), [], []

    def word(lo: int, hi: int) -> bytes:
        return (lo & MASK64).to_bytes(8, "little") + (hi & MASK64).to_bytes(8, "little")
    for _ in range(96):
        lo, hi = _state(rng), _state(rng)
        rows += [inputs.add(word(lo, hi), 16, state), inputs.add(word(hi, lo), 16, state)]
        pairs.append((rows[-2], rows[-1]))
    for _ in range(64):
        lo = _state(rng)
        rows.append(inputs.add(word(lo, lo), 16, state))
    x, y = _state(rng), _state(rng)
    for _ in range(64):
        d = _state(rng)
        rows += [inputs.add(word(x + d, y - d), 16, state), inputs.add(word(x ^ d, y ^ d), 16, state)]
    for length in range(9, 16):  # the first and last 8 bytes equal: a pattern of length - 8 bytes
        for _ in range(8):
            rows.append(inputs.add((rng.bytes(length - 8) * 16)[:16], length, state))
    return rows, pairs


def _state_sweep(inputs: _Inputs, rng):
    rows, pairs = [], []
    for length, buffer in ((16, bytes(16)), (9, rng.bytes(16)), (16, rng.bytes(16))):
        at = {s: inputs.add(buffer, length, s) for s in range(128)}
        at |= {1 << k: inputs.add(buffer, length, 1 << k) for k in range(7, 64)}
        pairs += [(at[0], at[1 << k]) for k in range(64)]
        pairs += [(at[s], at[s | 1 << k]) for s in range(128) for k in range(7) if not s >> k & 1]
        for _ in range(64):
            s, k = _state(rng), int(rng.integers(0, 64))
            pairs.append((inputs.add(buffer, length, s), inputs.add(buffer, length, s ^ 1 << k)))
        rows += list(at.values()) + [r for pair in pairs[-64:] for r in pair]
    return rows, pairs


FAMILIES = (("sparse", _sparse), ("one bit", _one_bit), ("two bits", _two_bits), ("cyclic", _cyclic),
            ("zero-heavy", _zero_heavy), ("words", _words), ("state sweep", _state_sweep))


def _family(name: str, inputs: _Inputs, rows: Sequence[int], pairs: Sequence[tuple[int, int]]) -> Family:
    first: dict = {}
    for row in rows:
        first.setdefault(inputs.words(row), row)
    kept = [p for p in pairs if inputs.words(p[0]) != inputs.words(p[1])]
    return Family(name, np.array(rows, np.int64), np.array(sorted(first.values()), np.int64),
                  np.array(kept, np.int64).reshape(-1, 2))


def build(seed: int = SEED) -> tuple[isa.Inputs, np.ndarray, list[Family]]:
    """The battery: (inputs [N] with 16-byte buffers, [N] string lengths, families, the last
    one "all"). Argument registers: rsi the length, rdx the state; the others start at zero."""
    rng = np.random.default_rng(seed)
    inputs, families = _Inputs(), []
    for name, make in FAMILIES:
        families.append(_family(name, inputs, *make(inputs, rng)))
    everything = np.concatenate([f.rows for f in families])
    families.append(_family("all", inputs, everything.tolist(),
                            [tuple(p) for f in families for p in f.pairs.tolist()]))
    n = len(inputs.lengths)
    registers = np.zeros((n, 16), np.uint64)
    registers[:, RSI] = inputs.lengths
    registers[:, RDX] = np.array(inputs.states, np.uint64)
    memory = np.frombuffer(b"".join(inputs.buffers), np.uint8).reshape(n, 16)
    return isa.Inputs(registers, memory.copy()), np.array(inputs.lengths, np.int32), families


def figures(results: np.ndarray, family: Family) -> np.ndarray:
    """[6] the family's figures (`METRICS`) for [N] uint64 results of every battery input; a
    family without pairs has NaN avalanche figures."""
    keyed = results[family.keys]
    ranges = (keyed & np.uint64(0xFF), keyed & np.uint64(0xFFFF), keyed & np.uint64(0xFFFFFFFF),
              keyed >> np.uint64(32))
    out = [len(keyed) - len(np.unique(r)) for r in ranges]
    if len(family.pairs):
        flips = results[family.pairs[:, 0]] ^ results[family.pairs[:, 1]]
        per_bit = np.unpackbits(flips.astype("<u8").view(np.uint8).reshape(-1, 8), axis=1).mean(axis=0)
        out += [abs(per_bit.mean() - 0.5), np.abs(per_bit - 0.5).max()]
    else:
        out += [np.nan, np.nan]
    return np.array(out, np.float64)


def _collisions(n: int, bits: int) -> tuple[float, float]:
    """(mean, standard deviation) of the collisions a random function makes among n distinct
    keys on `bits` bits: n - m + (empty bins among m = 2**bits), in forms that stay exact for
    large m (x = 1/m; a = (1 - x)^n, b = (1 - 2x)^n)."""
    m, x = 2.0**bits, 2.0**-bits
    log_a = n * np.log1p(-x)
    a = np.exp(log_a)
    empty = m * a
    # Var(empty) = m a + m (m - 1) b - m^2 a^2 = m (a - b) + m^2 (b - a^2)
    a_minus_b = -a * np.expm1(n * np.log1p(-x / (1 - x)))
    b_minus_a2 = a * a * np.expm1(n * np.log1p(-(x / (1 - x)) ** 2))
    variance = m * a_minus_b + m * m * b_minus_a2
    return n - m + empty, float(np.sqrt(max(variance, 0.0)))


def _worst_bit(pairs: int) -> tuple[float, float]:
    """(mean, standard deviation) of max over 64 fair bits of |flips / pairs - 0.5|."""
    k = np.arange(pairs + 1)
    bias = np.abs(k / pairs - 0.5)
    pmf = stats.binom.pmf(k, pairs, 0.5)
    values = np.unique(bias)
    cdf = np.array([pmf[bias <= v].sum() for v in values]) ** 64
    p = np.diff(np.concatenate([[0.0], cdf]))
    mean = float((p * values).sum())
    return mean, float(np.sqrt(max((p * values**2).sum() - mean**2, 0.0)))


def random_function_figures(family: Family) -> tuple[np.ndarray, np.ndarray]:
    """([6] mean, [6] standard deviation) of a random function's figures on the family."""
    n, p = len(family.keys), len(family.pairs)
    pairs = [_collisions(n, bits) for bits in (8, 16, 32, 32)]
    if p:
        sigma = 0.5 / np.sqrt(64 * p)  # the mean of 64 p fair bits; its distance from 0.5 is half-normal
        pairs += [(sigma * np.sqrt(2 / np.pi), sigma * np.sqrt(1 - 2 / np.pi)), _worst_bit(p)]
    else:
        pairs += [(np.nan, np.nan)] * 2
    mean, sd = zip(*pairs)
    return np.array(mean), np.array(sd)


class HashBattery(Battery):
    """The battery (module docstring), its thresholds taken from `references`.

    Args:
      references: models of the reference hashes, (string, state) -> 64-bit hash.
      seed: of the battery's inputs.
    """

    def __init__(self, references: Sequence[Model], *, seed: int = SEED):
        self._references = tuple(references)
        self._seed = seed

    @functools.cached_property
    def _built(self):
        inputs, lengths, families = build(self._seed)
        strings = [bytes(m[:n]) for m, n in zip(inputs.memory, lengths)]
        states = [int(s) for s in inputs.registers[:, RDX]]
        references = [np.array([model(s, st) for s, st in zip(strings, states)], np.uint64)
                      for model in self._references]
        allowed = []
        for family in families:
            mean, sd = random_function_figures(family)
            worst = np.fmax.reduce([figures(r, family) for r in references] + [mean])
            margin = SIGMAS * sd
            margin[:4] = np.maximum(margin[:4], MIN_COLLISION_MARGIN)
            bound = worst + margin
            bound[:4] = np.floor(bound[:4])  # collisions are whole
            allowed.append(bound)
        return inputs, lengths, families, allowed

    @property
    def inputs(self) -> isa.Inputs:
        return self._built[0]

    @property
    def families(self) -> list[Family]:
        return self._built[2]

    def allowed(self) -> list[np.ndarray]:
        """[6] per family: the most each figure may be (module docstring)."""
        return self._built[3]

    def results(self, program: isa.Program, backend: str, **options) -> tuple[np.ndarray, list]:
        """([N] rax of every battery input, [N] faults), each length run in a data region of
        exactly that many bytes."""
        inputs, lengths, _, _ = self._built
        results = np.zeros(len(lengths), np.uint64)
        faults: list = [None] * len(lengths)
        for length in np.unique(lengths):
            rows = np.flatnonzero(lengths == length)
            sub = isa.Inputs(inputs.registers[rows], inputs.memory[rows, :length])
            run = isa.execute(program, sub, backend, **options)
            results[rows] = run.registers[:, 0]
            for row, fault in zip(rows, run.fault):
                faults[row] = fault
        return results, faults

    def run(self, program: isa.Program, backend: str, **options) -> Verdict:
        results, faults = self.results(program, backend, **options)
        outputs = hashlib.sha256(results.astype("<u8").tobytes() + repr(faults).encode()).hexdigest()
        fault = next((f"battery input {i}: {f}" for i, f in enumerate(faults) if f), None)
        if fault:
            return Verdict((), fault, outputs)
        _, _, families, allowed = self._built
        verdicts = []
        for family, bound in zip(families, allowed):
            found = figures(results, family)
            checks = tuple(Check(metric, float(v), float(a)) for metric, v, a in zip(METRICS, found, bound)
                           if not np.isnan(v))
            verdicts.append(FamilyVerdict(family.name, len(family.rows), checks))
        return Verdict(tuple(verdicts), None, outputs)
