"""Native latency, side by side in one run: programs against the human reference and gcc -O3 C.

A C harness (built with gcc -O2; the C baselines inside it are compiled at -O3 through a
function attribute) calls each kernel through a `noinline` wrapper over a pool of 16,384 random
inputs (too many for branch predictors to learn), timing each pass over the pool with `rdtsc`
between `lfence`s. Each call's input depends on the previous call's output (xor with an opaque
zero), so calls cannot overlap and the figure is latency, not throughput. Kernels take turns within every repetition, so machine noise hits them alike. A pass
over the pool with an empty kernel is subtracted; reported per call: the median over
repetitions and the 10th-90th percentile spread, in TSC ticks (reference cycles).
"""
from __future__ import annotations

import dataclasses
import subprocess
import tempfile
from pathlib import Path

import numpy as np

import games
import isa
from alphadev.export import inline_function
from games.hash import ABSEIL_2022, ABSEIL_2023, HashTask
from games.references import NETWORKS, VARSORT3_BRANCHY, sorting_network
from games.sort import SortTask


@dataclasses.dataclass
class Row:
    name: str
    length: int | None
    median: float
    p10: float
    p90: float
    ratio: float = float("nan")  # median / the human reference's median


def _c_sort(n: int, variable: bool) -> str:
    """The comparator network in plain C (branchless min/max), or by count for varsort."""
    swaps = lambda off: "".join(f"    cswap(b + {i + off}, b + {j + off});\n" for i, j in NETWORKS[n])
    if not variable:
        return f"__attribute__((noinline, optimize(\"O3\"))) void c_gcc_O3(int32_t *b) {{\n{swaps(0)}}}\n"
    if n != 3:
        raise ValueError("a C baseline exists for varsort3 only")
    return ("__attribute__((noinline, optimize(\"O3\"))) void c_gcc_O3(int32_t *b) {\n"
            "    int n = b[0];\n    if (n < 2) return;\n    cswap(b + 1, b + 2);\n    if (n < 3) return;\n"
            "    cswap(b + 2, b + 3);\n    cswap(b + 1, b + 2);\n}\n")


C_HASH = r"""
static inline uint64_t load64(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return v; }
static inline uint64_t mix(uint64_t s, uint64_t v) {
    __uint128_t m = (__uint128_t)(s + v) * 0x9ddfea08eb382d69ULL;
    return (uint64_t)m ^ (uint64_t)(m >> 64);
}
__attribute__((noinline, optimize("O3"))) uint64_t c_abseil2022_gcc_O3(const uint8_t *p, size_t len, uint64_t s) {
    return mix(mix(s, load64(p)), load64(p + len - 8));
}
__attribute__((noinline, optimize("O3"))) uint64_t c_abseil2023_gcc_O3(const uint8_t *p, size_t len, uint64_t s) {
    uint64_t lo = load64(p), hi = load64(p + len - 8);
    lo = (lo >> 53) | (lo << 11);
    s += 0x9ddfea08eb382d69ULL; lo += s; s ^= hi;
    __uint128_t m = (__uint128_t)s * lo;
    return (uint64_t)m ^ (uint64_t)(m >> 64);
}
"""

HARNESS = r"""
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <x86intrin.h>
static inline void cswap(int32_t *a, int32_t *b) {
    int32_t x = *a, y = *b; *a = x < y ? x : y; *b = x < y ? y : x;
}
%(kernels)s
static uint64_t ticks(void) { _mm_lfence(); uint64_t t = __rdtsc(); _mm_lfence(); return t; }
%(timing)s
"""

SORT_TIMING = r"""
typedef void (*kernel)(int32_t *);
/* The empty kernel passes the chain through memory as a kernel does (first slot in, last out). */
__attribute__((noinline)) void k_empty(int32_t *b) { b[%(width)d - 1] = b[0]; __asm__ volatile("" :: "r"(b) : "memory"); }
int main(int argc, char **argv) {
    int reps = atoi(argv[1]), width = %(width)d, pool = %(pool)d;
    static int32_t inputs[%(pool)d][%(width)d];
    if (fread(inputs, sizeof inputs, 1, stdin) != 1) return 2;
    kernel ks[] = {k_empty, %(names)s};
    int nk = sizeof ks / sizeof *ks;
    int32_t buf[%(width)d];
    static volatile int32_t opaque_zero = 0;
    int32_t zero = opaque_zero, dep = 0;
    for (int r = 0; r < reps; r++)
        for (int k = 0; k < nk; k++) {
            uint64_t t0 = ticks();
            for (int i = 0; i < pool; i++) {
                memcpy(buf, inputs[i], sizeof buf);
                buf[0] ^= dep;                      /* waits for the previous call */
                ks[k](buf);
                dep = buf[%(width)d - 1] & zero;
            }
            printf("%%d %%llu\n", k, (unsigned long long)(ticks() - t0));
        }
    return dep;
}
"""

HASH_TIMING = r"""
typedef uint64_t (*kernel)(const uint8_t *, size_t, uint64_t);
__attribute__((noinline)) uint64_t k_empty(const uint8_t *p, size_t n, uint64_t s) {
    __asm__ volatile("" :: "r"(p), "r"(n), "r"(s) : "memory"); return s;
}
int main(int argc, char **argv) {
    int reps = atoi(argv[1]), pool = %(pool)d;
    static uint8_t strings[%(pool)d][16];
    static uint64_t lens[%(pool)d], states[%(pool)d];
    if (fread(strings, sizeof strings, 1, stdin) != 1 || fread(lens, sizeof lens, 1, stdin) != 1
        || fread(states, sizeof states, 1, stdin) != 1) return 2;
    kernel ks[] = {k_empty, %(names)s};
    int nk = sizeof ks / sizeof *ks;
    static volatile uint64_t opaque_zero = 0;
    uint64_t zero = opaque_zero, dep = 0;
    for (int r = 0; r < reps; r++)
        for (int k = 0; k < nk; k++) {
            uint64_t t0 = ticks();
            for (int i = 0; i < pool; i++) dep = ks[k](strings[i], lens[i], states[i] ^ dep) & zero;
            printf("%%d %%llu\n", k, (unsigned long long)(ticks() - t0));
        }
    return (int)dep;
}
"""


def references_for(game: str) -> list[tuple[str, isa.Program]]:
    """The human reference programs of a game (the first is the one ratios are taken against)."""
    if game.startswith("sort") and int(game[4:]) in NETWORKS:
        return [("human reference (cmov network)", sorting_network(int(game[4:])))]
    if game == "varsort3":
        return [("human reference (branchy)", VARSORT3_BRANCHY)]
    if game == "hash9to16":
        return [("Abseil 2022 (asm)", ABSEIL_2022), ("Abseil 2023 (asm)", ABSEIL_2023)]
    raise ValueError(f"no native benchmark for {game}: it has no human reference")


def bench(game: str, programs: list[tuple[str, isa.Program]] = (), *, pool: int = 16384,
          reps: int = 21, seed: int = 0) -> list[Row]:
    """Times the references, the gcc -O3 C and `programs` natively, in one run.

    Args:
      game: the game the programs solve.
      programs: (name, program) pairs to time besides the baselines.
      pool: random inputs per pass. reps: passes per kernel.
    Returns:
      One `Row` per kernel, references first.
    """
    task = games.make(game).task
    rng = np.random.default_rng(seed)
    kernels = references_for(game) + list(programs)
    sources, names = [], []
    for k, (_, program) in enumerate(kernels):
        fn = inline_function(program, game, f"asm_{k}")
        if isinstance(task, HashTask):
            wrapper = (f"__attribute__((noinline)) uint64_t k_{k}(const uint8_t *p, size_t n, uint64_t s) "
                       f"{{ return asm_{k}(p, n, s); }}\n")
        else:
            wrapper = f"__attribute__((noinline)) void k_{k}(int32_t *b) {{ asm_{k}(b); }}\n"
        sources.append(fn + wrapper)
        names.append(f"k_{k}")
    if isinstance(task, HashTask):
        sources.append(C_HASH)
        labels = [n for n, _ in kernels] + ["Abseil 2022 (C, gcc -O3)", "Abseil 2023 (C, gcc -O3)"]
        names += ["c_abseil2022_gcc_O3", "c_abseil2023_gcc_O3"]
        timing = HASH_TIMING % dict(pool=pool, names=", ".join(names))
        lens = rng.integers(9, 17, pool).astype(np.uint64)
        data = rng.integers(0, 256, (pool, 16), dtype=np.uint8).tobytes() + lens.tobytes() \
            + rng.integers(0, 2**63, pool, dtype=np.uint64).tobytes()
    else:
        assert isinstance(task, SortTask)
        sources.append(_c_sort(task.n, task.variable))
        labels = [n for n, _ in kernels] + ["C network (gcc -O3)"]
        names.append("c_gcc_O3")
        width = task.n + (1 if task.variable else 0)
        values = rng.integers(-2**31, 2**31, (pool, width), dtype=np.int64).astype(np.int32)
        if task.variable:
            values[:, 0] = rng.integers(1, task.n + 1, pool)
        timing = SORT_TIMING % dict(pool=pool, width=width, names=", ".join(names))
        data = values.tobytes()
    source = HARNESS % dict(kernels="\n".join(sources), timing=timing)
    with tempfile.TemporaryDirectory() as tmp:
        c, exe = Path(tmp) / "bench.c", Path(tmp) / "bench"
        c.write_text(source)
        build = subprocess.run(["gcc", "-O2", "-o", str(exe), str(c)], capture_output=True, text=True)
        if build.returncode:
            raise RuntimeError(f"building the benchmark failed:\n{build.stderr}")
        out = subprocess.run([str(exe), str(reps)], input=data, capture_output=True, check=True).stdout.decode()
    samples = np.zeros((len(names) + 1, reps))
    counts = np.zeros(len(names) + 1, int)
    for line in out.split("\n"):
        if line:
            k, t = (int(x) for x in line.split())
            samples[k, counts[k]] = t
            counts[k] += 1
    empty = np.median(samples[0])
    per_call = (samples[1:] - empty) / pool
    lengths = [len(p) for _, p in kernels] + [None] * (len(names) - len(kernels))
    rows = [Row(label, length, float(np.median(s)), float(np.percentile(s, 10)), float(np.percentile(s, 90)))
            for label, length, s in zip(labels, lengths, per_call)]
    for row in rows:
        row.ratio = row.median / rows[0].median
    return rows


def table(rows: list[Row]) -> str:
    lines = [f"{'kernel':<34}{'length':>7}{'ticks/call':>12}{'p10-p90':>16}{'vs reference':>14}"]
    for r in rows:
        length = "" if r.length is None else str(r.length)
        lines.append(f"{r.name:<34}{length:>7}{r.median:>12.2f}{f'{r.p10:.2f}-{r.p90:.2f}':>16}{r.ratio:>13.2f}x")
    return "\n".join(lines)
