"""Native speed, side by side in one run: programs against the task's references, AlphaDev's
released kernels and C baselines, in two modes.

- throughput: independent calls over a pool of the task's random inputs, as a sort's leaves
  call it; each pass sorts a fresh copy of the pool (restored outside the timed loop).
- latency: each call's every input word and scalar argument depends on every output of the
  previous call (all output words and the result xor-folded, masked by an opaque zero and
  xored into every word of the next input), so calls cannot overlap.

Two translation units keep the harness from adding artefacts: the kernels (each a `noinline`
function around the program's inline asm) and the C baselines are built at `gcc -O3`; the
timing loops at `-O2` with vectorisation and loop-to-memcpy conversion off, so the copies
around a kernel are 4-byte scalar moves whose stores forward to the kernel's loads (a test
disassembles the loops). A pool of 16,384 inputs is too many for branch predictors to learn.

Per call, a figure is a pass's time minus the same repetition's pass of an empty kernel (the
call, the loop and the copies), over the pool; the median and 10th-90th percentiles over
repetitions in which kernels take turns (the order rotating), after one warm-up repetition.
Time is read from the core-cycle counter (`perf_event_open`, user mode) where it can be
opened, else from the TSC, converted to core cycles by a dependent chain of register adds (one
cycle each on any x86-64) timed in every repetition; the ratio is reported. Each figure is
checked against the kernel's bounds under llvm-mca's model (`alphadev.bounds`); a figure below
its bound is reported loudly, as untrustworthy. Only verified programs should be timed: the
kernels run natively without any checks.
"""
from __future__ import annotations

import dataclasses
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path
from typing import Optional

import numpy as np

import games
import isa
from alphadev.bounds import bounds as kernel_bounds
from alphadev.export import inline_function

__all__ = ["BenchError", "MIN_REPS", "MODES", "Kernel", "Row", "Report", "bench", "build", "report_text"]

MIN_REPS = 5  # the median and the 10th-90th percentiles need a few passes to mean anything
MODES = ("throughput", "latency")
ADD_CHAIN = 100 * 2000  # dependent adds timed per repetition to convert TSC ticks to cycles


class BenchError(RuntimeError):
    """The benchmark could not be built or run, or gave no usable figure; one line."""


@dataclasses.dataclass(frozen=True)
class Kernel:
    """One kernel to time: a program (with its kind: reference, alphadev, program), or a C
    baseline's body."""
    name: str
    kind: str
    program: Optional[isa.Program] = None
    c_body: str = ""


@dataclasses.dataclass
class Row:
    name: str
    kind: str
    length: Optional[int]
    median: float
    p10: float
    p90: float
    bound: Optional[float] = None  # the least the figure can be (alphadev.bounds); None: unknown
    ratio: float = float("nan")          # median / the first reference's median
    alphadev_ratio: float = float("nan")  # median / the first AlphaDev kernel's median


@dataclasses.dataclass
class Report:
    """What `bench` measured.

    Attributes:
      game, pool, reps: what was run.
      counter: "cycles" (the core-cycle counter) or "tsc"; counter_note: why not cycles.
      ticks_per_cycle: the TSC's ticks per core cycle (median over repetitions), or None.
      add_cycles: the add chain's measured cycles per add (1 expected), a check of the unit.
      overhead: per mode, the empty kernel's cycles per call (subtracted from every figure).
      modes: per mode, one `Row` per kernel.
      warnings: figures below their bounds, one line each.
      bounds_note: where the bounds come from, or why there are none.
    """
    game: str
    pool: int
    reps: int
    counter: str
    counter_note: str
    ticks_per_cycle: Optional[float]
    add_cycles: float
    overhead: dict
    modes: dict
    warnings: list
    bounds_note: str = ""


HARNESS_C = r"""
#define _GNU_SOURCE
#include <errno.h>
#include <linux/perf_event.h>
#include <stdint.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <x86intrin.h>
#define POOL %(pool)d
#define WORDS %(words)d
#define SCALARS %(scalars)d
/* OPAQUE passes a value through a register the compiler cannot see into (nor delete): it
   cannot compute a kernel's inputs ahead, drop an unused result, or fuse one call's work with
   the next's. The copies around a kernel are volatile 4-byte accesses, which gcc never merges
   into vector moves (whose stores would not forward to the kernel's 4-byte loads); the memory
   barriers keep a kernel's inputs and outputs in memory, as a caller's array is. */
#define OPAQUE(v) __asm__ volatile("" : "+r"(v))
#define STORE(a, v) (*(volatile uint32_t *)&(a) = (v))
#define LOAD(a) (*(volatile uint32_t *)&(a))
#define MEMORY_BARRIER() __asm__ volatile("" ::: "memory")
static uint32_t pristine[POOL][WORDS] __attribute__((aligned(64)));
static uint32_t work[POOL][WORDS] __attribute__((aligned(64)));
static uint64_t regs[POOL][SCALARS + 1];
static uint32_t buf[WORDS] __attribute__((aligned(64)));
static volatile uint64_t opaque_zero = 0, opaque_one = 1;
volatile uint64_t sink;
static int counter = -1;  /* the core-cycle counter's file descriptor, or -1: the TSC */

static inline uint64_t now(void) {
    if (counter >= 0) {
        uint64_t v;
        if (read(counter, &v, sizeof v) != sizeof v) abort();
        return v;
    }
    _mm_lfence(); uint64_t t = __rdtsc(); _mm_lfence(); return t;
}

/* A dependent chain of register adds: one cycle each on any x86-64. */
__attribute__((noinline, noipa)) uint64_t pass_add_chain(void) {
    uint64_t x = 0, one = opaque_one;
    uint64_t t0 = now();
    for (int i = 0; i < %(add_chain)d / 100; i++)
        __asm__ volatile(".rept 100\n\tadd %%1, %%0\n\t.endr" : "+r"(x) : "r"(one));
    uint64_t t = now() - t0;
    sink = x;
    return t;
}

static void restore(void) {  /* a fresh copy of the inputs for a throughput pass, untimed */
    for (int i = 0; i < POOL; i++)
        for (int w = 0; w < WORDS; w++) STORE(work[i][w], pristine[i][w]);
    MEMORY_BARRIER();
}
%(helpers)s
%(kernels)s
static const char *open_counter(void) {
    struct perf_event_attr a;
    memset(&a, 0, sizeof a);
    a.type = PERF_TYPE_HARDWARE;
    a.size = sizeof a;
    a.config = PERF_COUNT_HW_CPU_CYCLES;
    a.exclude_kernel = 1;
    a.exclude_hv = 1;
    int fd = (int)syscall(SYS_perf_event_open, &a, 0, -1, -1, 0);
    static char why[160];
    if (fd < 0) { snprintf(why, sizeof why, "perf_event_open: %%s", strerror(errno)); return why; }
    counter = fd;
    uint64_t spent = pass_add_chain();
    if (spent < %(add_chain)d / 2) {  /* a counter that does not count */
        close(fd);
        counter = -1;
        return "the cycle counter opened but does not count";
    }
    return NULL;
}

int main(int argc, char **argv) {
    int reps = atoi(argv[1]), want_counter = atoi(argv[2]);
    if (fread(pristine, sizeof pristine, 1, stdin) != 1 || fread(regs, sizeof regs, 1, stdin) != 1) return 2;
    const char *why = want_counter ? open_counter() : "not asked for";
    if (why) printf("counter tsc %%s\n", why); else printf("counter cycles\n");
    uint64_t (*throughput[])(void) = {%(throughput)s};
    uint64_t (*latency[])(uint64_t) = {%(latency)s};
    int nk = sizeof throughput / sizeof *throughput;
    uint64_t zero = opaque_zero;
    for (int r = -1; r < reps; r++) {  /* r = -1: a warm-up, not printed */
        uint64_t add = pass_add_chain();
        if (r >= 0) printf("add %%d %%llu\n", r, (unsigned long long)add);
        for (int j = 0; j < nk; j++) {
            int k = (j + r + 1) %% nk;  /* the order rotates, so no kernel always follows another */
            uint64_t t = throughput[k](), l = latency[k](zero);
            if (r >= 0) printf("throughput %%d %%d %%llu\nlatency %%d %%d %%llu\n",
                               k, r, (unsigned long long)t, k, r, (unsigned long long)l);
        }
    }
    return 0;
}
"""

PASSES_C = r"""
__attribute__((noinline, noipa)) uint64_t pass_throughput_%(k)s(void) {
    restore();
    uint64_t t0 = now();
    for (int i = 0; i < POOL; i++) {
        uint32_t *p = work[i];
        OPAQUE(p);
        %(throughput_call)s
        MEMORY_BARRIER();
    }
    return now() - t0;
}

__attribute__((noinline, noipa)) uint64_t pass_latency_%(k)s(uint64_t zero) {
    uint64_t dep = 0;
    uint64_t t0 = now();
    for (int i = 0; i < POOL; i++) {
        uint32_t d = (uint32_t)dep, *p = buf;
        for (int w = 0; w < WORDS; w++) STORE(buf[w], pristine[i][w] ^ d);
        OPAQUE(p);
        MEMORY_BARRIER();
        %(latency_call)s
        MEMORY_BARRIER();
        for (int w = 0; w < WORDS; w++) fold ^= LOAD(buf[w]);
        dep = fold & zero;
    }
    uint64_t t = now() - t0;
    sink = dep;
    return t;
}
"""


def _calls(sig: games.Signature, name: str) -> dict:
    """The lines of a kernel's timing loops that call it: argument passing and the chain."""
    throughput_args, latency_args, k = [], [], 0
    for p in sig.params:
        if p.pointer:
            throughput_args.append(f"({p.ctype})p")
            latency_args.append(f"({p.ctype})p")
        else:
            throughput_args.append(f"({p.ctype})regs[i][{k}]")
            latency_args.append(f"({p.ctype})(regs[i][{k}] ^ dep)")
            k += 1
    if sig.result:
        throughput = f'uint64_t out = (uint64_t){name}({", ".join(throughput_args)}); OPAQUE(out);'
        latency = f"uint64_t fold = (uint64_t){name}({', '.join(latency_args)});"
    else:
        throughput = f"{name}({', '.join(throughput_args)});"
        latency = f"{name}({', '.join(latency_args)}); uint64_t fold = 0;"
    return dict(throughput_call=throughput, latency_call=latency)


def _empty(sig: games.Signature) -> str:
    """A kernel that does nothing: the loop and copies every figure is net of."""
    keep = ", ".join(f'"r"({p.name})' for p in sig.params)
    give = " return 0;" if sig.result else ""
    return f'static inline {sig.declaration("kernel_empty")} {{ __asm__ volatile("" :: {keep} : "memory");{give} }}\n'


def sources(task: games.Task, kernels: list[Kernel], *, pool: int, words: int) -> str:
    """The harness's C source for timing `kernels` on `task`'s signature: each kernel inlined
    into its own pair of timing loops (`pass_throughput_K`, `pass_latency_K`; K = `empty` for the
    empty kernel, else the kernel's index)."""
    sig = task.signature
    bodies, keys = [_empty(sig)], ["empty"]
    for k, kernel in enumerate(kernels):
        if kernel.program is not None:
            bodies.append(inline_function(kernel.program, sig, f"kernel_{k}"))
        else:
            bodies.append(f"static inline __attribute__((always_inline)) {sig.declaration(f'kernel_{k}')} {{\n"
                          f"{kernel.c_body}}}\n")
        keys.append(str(k))
    for key in keys:
        bodies.append(PASSES_C % dict(k=key, **_calls(sig, f"kernel_{key}")))
    helpers = sorted({c.helpers for c in task.c_references})
    scalars = sum(not p.pointer for p in sig.params)
    return HARNESS_C % dict(pool=pool, words=words, scalars=scalars, add_chain=ADD_CHAIN,
                            helpers="\n".join(helpers), kernels="\n".join(bodies),
                            throughput=", ".join(f"pass_throughput_{k}" for k in keys),
                            latency=", ".join(f"pass_latency_{k}" for k in keys))


def _first_error(stderr: str) -> str:
    return next((line for line in stderr.splitlines() if "error" in line), stderr.strip())


def build(directory: Path, task: games.Task, kernels: list[Kernel], *, pool: int, words: int) -> Path:
    """Compiles the harness for `kernels` into `directory` with `gcc -O3`; returns the executable.

    Raises:
      BenchError: without gcc, or when gcc fails.
    """
    if shutil.which("gcc") is None:
        raise BenchError("bench compiles its harness with gcc, which is not installed (apt-get install gcc)")
    directory = Path(directory)
    (directory / "bench.c").write_text(sources(task, kernels, pool=pool, words=words))
    exe = directory / "bench"
    run = subprocess.run(["gcc", "-O3", "-o", str(exe), "bench.c"], cwd=directory, capture_output=True, text=True)
    if run.returncode:
        raise BenchError(f"gcc could not build the benchmark: {_first_error(run.stderr)}")
    return exe


def _pool(task: games.Task, pool: int, seed: int) -> tuple[bytes, int]:
    """(the data the harness reads, 32-bit words per input): `pool` of the task's random inputs
    in a random order, data regions padded to the widest, then the scalar arguments' registers."""
    groups = task.random_inputs(pool, seed)
    width = -(-max(4, max(g.data_size for g in groups)) // 4) * 4
    memory = np.concatenate([np.pad(g.memory, ((0, 0), (0, width - g.data_size))) for g in groups])
    regs = np.concatenate([g.registers for g in groups])
    order = np.random.default_rng(seed).permutation(len(memory))
    scalars = [isa.Reg(p.register).number for p in task.signature.params if not p.pointer]
    columns = np.concatenate([regs[order][:, scalars], np.zeros((len(order), 1), np.uint64)], axis=1)
    return memory[order].tobytes() + columns.astype(np.uint64).tobytes(), width // 4


def _run(exe: Path, data: bytes, reps: int, counter: bool) -> str:
    run = subprocess.run([str(exe), str(reps), str(int(counter))], input=data, capture_output=True)
    if run.returncode < 0:
        raise BenchError(f"the benchmark harness died of {signal.Signals(-run.returncode).name}: "
                         "a kernel faulted (is every program verified?)")
    if run.returncode:
        raise BenchError(f"the benchmark harness failed with exit code {run.returncode}")
    return run.stdout.decode()


def _parse(out: str, n: int, reps: int) -> tuple[str, np.ndarray, dict]:
    """(the counter line, [reps] add-chain times, mode -> [n, reps] pass times)."""
    lines = out.splitlines()
    add = np.zeros(reps)
    passes = {mode: np.full((n, reps), np.nan) for mode in MODES}
    for line in lines[1:]:
        word, *fields = line.split()
        if word == "add":
            add[int(fields[0])] = int(fields[1])
        else:
            k, r, t = (int(x) for x in fields)
            passes[word][k, r] = t
    if any(np.isnan(p).any() for p in passes.values()):
        raise BenchError("the benchmark harness printed too few timings")
    return lines[0], add, passes


def _bounds_note(mcpu: str) -> str:
    """Where the figures' bounds come from, or why there are none; a bad CPU name is an error."""
    try:
        isa.latency.mca(isa.parse("mov eax, 1"), mcpu)
    except isa.latency.McaUnavailable as e:
        return f"no bounds: {e}"
    except ValueError as e:
        raise ValueError(f"--mcpu {mcpu}: {e}") from None
    return f"bounds: llvm-mca -mcpu={mcpu}, straight-line kernels"


def _bound(kernel: Kernel, mode: str, sig: games.Signature, mcpu: str) -> Optional[float]:
    if kernel.program is None:
        return None
    try:
        found = kernel_bounds(kernel.program, sig.result, mcpu=mcpu)
    except isa.latency.McaUnavailable:
        return None
    if found is None:
        return None
    return found.throughput if mode == "throughput" else float(found.latency)


def bench(game: str, programs: list[tuple[str, isa.Program]] = (), *, alphadev: list[tuple[str, isa.Program]] = (),
          pool: int = 16384, reps: int = 21, seed: int = 0, counter: bool = True, mcpu: str = "skylake") -> Report:
    """Times the task's references, `alphadev`, `programs` and the task's C baselines natively.

    Args:
      game: a registered task's name.
      programs: (name, program) pairs to time besides the baselines (the user's records).
      alphadev: (name, program) pairs of AlphaDev's kernels, already verified.
      pool: random inputs per pass. reps: passes per kernel and mode (at least `MIN_REPS`).
      counter: try the core-cycle counter (else the TSC only). mcpu: llvm-mca's CPU for bounds.
    Returns:
      A `Report`; its rows: references, AlphaDev's, `programs`, then the C baselines.
    Raises:
      ValueError: when the task has no reference and no program is given, or reps is too few.
      BenchError: without gcc, or when the harness fails.
    """
    if reps < MIN_REPS:
        raise ValueError(f"--reps {reps}: at least {MIN_REPS} passes are needed for a median and a spread")
    task = games.task(game)
    kernels = ([Kernel(r.label, "reference", r.program) for r in task.references]
               + [Kernel(name, "alphadev", p) for name, p in alphadev]
               + [Kernel(name, "program", p) for name, p in programs]
               + [Kernel(c.label, "c", c_body=c.body) for c in task.c_references])
    if not any(k.program is not None for k in kernels):
        raise ValueError(f"no native benchmark for {game}: no reference and no program to time")
    bounds_note = _bounds_note(mcpu)
    data, words = _pool(task, pool, seed)
    with tempfile.TemporaryDirectory() as tmp:
        exe = build(Path(tmp), task, kernels, pool=pool, words=words)
        out = _run(exe, data, reps, counter)
    counter_line, add, passes = _parse(out, len(kernels) + 1, reps)
    unit = counter_line.split()[1]
    ticks_per_cycle = add / ADD_CHAIN if unit == "tsc" else np.ones(reps)
    report = Report(game, pool, reps, unit, counter_line.split(" ", 2)[2] if unit == "tsc" else "",
                    float(np.median(ticks_per_cycle)) if unit == "tsc" else None,
                    float(np.median(add / ticks_per_cycle / ADD_CHAIN)), {}, {}, [], bounds_note)
    for mode in MODES:
        cycles = passes[mode] / ticks_per_cycle / pool  # [kernels + 1, reps] per call
        report.overhead[mode] = float(np.median(cycles[0]))
        rows = []
        for kernel, per_call in zip(kernels, cycles[1:] - cycles[0]):
            rows.append(Row(kernel.name, kernel.kind, len(kernel.program) if kernel.program is not None else None,
                            float(np.median(per_call)), float(np.percentile(per_call, 10)),
                            float(np.percentile(per_call, 90)), _bound(kernel, mode, task.signature, mcpu)))
        first_alphadev = next((r for r in rows if r.kind == "alphadev"), None)
        for row in rows:
            row.ratio = row.median / rows[0].median
            if first_alphadev is not None:
                row.alphadev_ratio = row.median / first_alphadev.median
            if row.bound is not None and row.median < row.bound:
                report.warnings.append(f"!!! WARNING: {row.name}: {mode} {row.median:.2f} cycles/call is below its "
                                       f"bound {row.bound:.2f} (llvm-mca -mcpu={mcpu}): this figure cannot be trusted")
            elif row.median <= 0:
                report.warnings.append(f"!!! WARNING: {row.name}: {mode} {row.median:.2f} cycles/call is no slower "
                                       "than the empty call: this figure cannot be trusted")
        report.modes[mode] = rows
    return report


def _table(rows: list[Row]) -> list[str]:
    alphadev = any(r.kind == "alphadev" for r in rows)
    head = f"{'kernel':<46}{'length':>7}{'cycles':>9}{'p10-p90':>14}{'bound':>7}{'vs ref':>9}"
    lines = [head + (f"{'vs AlphaDev':>13}" if alphadev else "")]
    for r in rows:
        length = "" if r.length is None else str(r.length)
        bound = "" if r.bound is None else f"{r.bound:.1f}"
        line = (f"{r.name[:45]:<46}{length:>7}{r.median:>9.2f}{f'{r.p10:.2f}-{r.p90:.2f}':>14}{bound:>7}"
                f"{r.ratio:>8.2f}x")
        lines.append(line + (f"{r.alphadev_ratio:>12.2f}x" if alphadev else ""))
    return lines


def report_text(report: Report) -> str:
    """The report as text: how time was read, then one table per mode, then any warnings."""
    if report.counter == "cycles":
        unit = "core cycles from the cycle counter (perf_event_open, user mode)"
    else:
        unit = (f"core cycles from TSC ticks (no cycle counter: {report.counter_note});\n"
                f"      1 cycle = {report.ticks_per_cycle:.3f} ticks, measured by a dependent add chain")
    lines = [f"{report.game}: {report.pool:,} random inputs per pass, median of {report.reps} interleaved passes",
             f"unit: {unit}; it reads {report.add_cycles:.2f} cycles per add (1 expected)",
             report.bounds_note]
    captions = {"throughput": "throughput: independent calls, cycles per call",
                "latency": "latency: each call's inputs depend on all of the previous call's outputs, cycles per call"}
    for mode in MODES:
        lines += ["", f"{captions[mode]} (net of an empty call's {report.overhead[mode]:.2f})"]
        lines += _table(report.modes[mode])
    if report.warnings:
        lines += [""] + report.warnings
    return "\n".join(lines)
