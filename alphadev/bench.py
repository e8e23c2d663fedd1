"""Native latency, side by side in one run: programs against the task's references and C baselines.

A C harness (built with gcc -O2; the C baselines inside it are compiled at -O3 through a
function attribute) calls each kernel through a `noinline` wrapper over a pool of 16,384 of the
task's random inputs (too many for branch predictors to learn), timing each pass over the pool
with `rdtsc` between `lfence`s. The harness is built from the task's C `Signature`: each call
copies its input's data region into a buffer (the pointer argument) and takes the other
arguments from its input's registers. Each call's input depends on the previous call's output
(xor with an opaque zero, into the last scalar argument or else the buffer's first word; out of
the result or else the buffer's last word), so calls cannot overlap and the figure is latency,
not throughput; a kernel that leaves the last word alone (a varsort on a short count) breaks
that chain through memory. Kernels take turns within every repetition, so machine noise hits them alike;
one repetition runs first as a warm-up and is not counted. The fastest pass of an empty kernel
is subtracted (noise only adds time, so that pass is the closest to the call's own cost; a median
of few passes, some of them preempted, could exceed a kernel's and make it negative); reported
per call: the median over repetitions and the 10th-90th percentile spread, in TSC ticks
(reference cycles). A kernel that still times at or below the empty call is an error, not a
figure. Only verified programs should be timed: the kernels run natively without any checks.
"""
from __future__ import annotations

import dataclasses
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

import numpy as np

import games
import isa
from alphadev.export import inline_function

__all__ = ["BenchError", "MIN_REPS", "Row", "bench", "table"]

MIN_REPS = 5  # the median and the 10th-90th percentiles need a few passes to mean anything


class BenchError(RuntimeError):
    """The benchmark could not be built or run, or gave no usable figure; one line."""


@dataclasses.dataclass
class Row:
    name: str
    length: int | None
    median: float
    p10: float
    p90: float
    ratio: float = float("nan")  # median / the first reference's median


HARNESS = r"""
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <x86intrin.h>
%(helpers)s
%(kernels)s
static uint64_t ticks(void) { _mm_lfence(); uint64_t t = __rdtsc(); _mm_lfence(); return t; }
typedef %(kernel_type)s;
__attribute__((noinline)) %(empty)s
int main(int argc, char **argv) {
    int reps = atoi(argv[1]);
    static uint8_t memory[%(pool)d][%(width)d];
    static uint64_t regs[%(pool)d][%(scalars)d + 1];
    if (fread(memory, sizeof memory, 1, stdin) != 1 || fread(regs, sizeof regs, 1, stdin) != 1) return 2;
    kernel ks[] = {k_empty, %(names)s};
    int nk = sizeof ks / sizeof *ks;
    static uint8_t buf[%(width)d] __attribute__((aligned(16)));
    static volatile uint64_t opaque_zero = 0;
    uint64_t zero = opaque_zero, dep = 0;
    for (int r = -1; r < reps; r++)  /* r = -1: a warm-up, not printed */
        for (int k = 0; k < nk; k++) {
            uint64_t t0 = ticks();
            for (int i = 0; i < %(pool)d; i++) {
                memcpy(buf, memory[i], sizeof buf);
                %(chain_in)s
                %(call)s
                %(chain_out)s
            }
            uint64_t t = ticks() - t0;
            if (r >= 0) printf("%%d %%llu\n", k, (unsigned long long)t);
        }
    return (int)dep;
}
"""


def _word(at: str) -> str:
    return f"({{ uint32_t v_; memcpy(&v_, {at}, 4); v_; }})"


def _harness_parts(sig: games.Signature, width: int) -> dict:
    """The signature-dependent pieces of HARNESS: argument passing and the dependency chain."""
    scalars = [p for p in sig.params if not p.pointer]
    args, k = [], 0
    for p in sig.params:
        if p.pointer:
            args.append(f"({p.ctype})buf")
        else:
            xor = " ^ dep" if p is scalars[-1] else ""
            args.append(f"({p.ctype})(regs[i][{k}]{xor})")
            k += 1
    last = f"buf + {width - 4}"
    chain_in = "" if scalars else f"{{ uint32_t w_ = {_word('buf')} ^ (uint32_t)dep; memcpy(buf, &w_, 4); }}"
    call = f"{'uint64_t out = (uint64_t)' if sig.result else ''}ks[k]({', '.join(args)});"
    chain_out = f"dep = {'out' if sig.result else _word(last)} & zero;"
    keep = ", ".join(f'"r"({p.name})' for p in sig.params)
    pointer = next(p.name for p in sig.params if p.pointer)  # a Signature has exactly one
    if sig.result:  # passes the chain from its last scalar argument (or the buffer) to the result
        source = scalars[-1].name if scalars else _word(pointer)
        body = f'__asm__ volatile("" :: {keep} : "memory"); return ({sig.ctype}){source};'
    else:           # passes the chain through memory as a kernel does (first word in, last out)
        body = (f'memcpy((uint8_t *){pointer} + {width - 4}, {pointer}, 4); '
                f'__asm__ volatile("" :: {keep} : "memory");')
    return dict(kernel_type=sig.declaration("(*kernel)"), empty=f"{sig.declaration('k_empty')} {{ {body} }}",
                chain_in=chain_in, call=call, chain_out=chain_out, scalars=len(scalars))


def _pool(task: games.Task, pool: int, seed: int) -> tuple[bytes, int]:
    """(the data the harness reads, the buffer width): `pool` of the task's random inputs in a
    random order, data regions padded to the widest, then the scalar arguments' registers."""
    groups = task.random_inputs(pool, seed)
    width = max(4, max(g.data_size for g in groups))
    memory = np.concatenate([np.pad(g.memory, ((0, 0), (0, width - g.data_size))) for g in groups])
    regs = np.concatenate([g.registers for g in groups])
    order = np.random.default_rng(seed).permutation(len(memory))
    scalars = [isa.Reg(p.register).number for p in task.signature.params if not p.pointer]
    columns = np.concatenate([regs[order][:, scalars], np.zeros((len(order), 1), np.uint64)], axis=1)
    return memory[order].tobytes() + columns.astype(np.uint64).tobytes(), width


def bench(game: str, programs: list[tuple[str, isa.Program]] = (), *, pool: int = 16384,
          reps: int = 21, seed: int = 0) -> list[Row]:
    """Times the task's references, its C baselines and `programs` natively, in one run.

    Args:
      game: a registered task's name.
      programs: (name, program) pairs to time besides the baselines.
      pool: random inputs per pass. reps: passes per kernel (at least `MIN_REPS`).
    Returns:
      One `Row` per kernel, references first, then `programs`, then the C baselines.
    Raises:
      ValueError: when the task has no reference and no program is given, or reps is too few.
      BenchError: without gcc, when the harness fails, or when a kernel times no slower than
        the empty call.
    """
    if reps < MIN_REPS:
        raise ValueError(f"--reps {reps}: at least {MIN_REPS} passes are needed for a median and a spread")
    if shutil.which("gcc") is None:
        raise BenchError("bench compiles its harness with gcc, which is not installed (apt-get install gcc)")
    task = games.task(game)
    sig = task.signature
    kernels = [(r.label, r.program) for r in task.references] + list(programs)
    if not kernels:
        raise ValueError(f"no native benchmark for {game}: no reference and no program to time")
    data, width = _pool(task, pool, seed)
    sources, names = [], []
    call = ", ".join(p.name for p in sig.params)
    ret = "return " if sig.result else ""
    for k, (_, program) in enumerate(kernels):
        sources.append(inline_function(program, sig, f"asm_{k}"))
        sources.append(f"__attribute__((noinline)) {sig.declaration(f'k_{k}')} {{ {ret}asm_{k}({call}); }}\n")
        names.append(f"k_{k}")
    helpers = {c.helpers for c in task.c_references}
    for k, c in enumerate(task.c_references):
        sources.append(f"__attribute__((noinline, optimize(\"O3\"))) {sig.declaration(f'c_{k}')} {{\n{c.body}}}\n")
        names.append(f"c_{k}")
    source = HARNESS % dict(helpers="\n".join(sorted(helpers)), kernels="\n".join(sources), pool=pool, width=width,
                            names=", ".join(names), **_harness_parts(sig, width))
    with tempfile.TemporaryDirectory() as tmp:
        c, exe = Path(tmp) / "bench.c", Path(tmp) / "bench"
        c.write_text(source)
        build = subprocess.run(["gcc", "-O2", "-o", str(exe), str(c)], capture_output=True, text=True)
        if build.returncode:
            first_error = next((line for line in build.stderr.splitlines() if "error" in line), build.stderr.strip())
            raise BenchError(f"gcc could not build the benchmark: {first_error}")
        run = subprocess.run([str(exe), str(reps)], input=data, capture_output=True)
        if run.returncode < 0:
            raise BenchError(f"the benchmark harness died of {signal.Signals(-run.returncode).name}: "
                             "a kernel faulted (is every program verified?)")
        if run.returncode:
            raise BenchError(f"the benchmark harness failed with exit code {run.returncode}")
        out = run.stdout.decode()
    samples = np.zeros((len(names) + 1, reps))
    counts = np.zeros(len(names) + 1, int)
    for line in out.split("\n"):
        if line:
            k, t = (int(x) for x in line.split())
            samples[k, counts[k]] = t
            counts[k] += 1
    if (counts != reps).any():
        raise BenchError(f"the benchmark harness printed {counts.sum()} of {counts.size * reps} timings")
    per_call = (samples[1:] - samples[0].min()) / pool
    labels = [n for n, _ in kernels] + [c.label for c in task.c_references]
    lengths = [len(p) for _, p in kernels] + [None] * len(task.c_references)
    rows = [Row(label, length, float(np.median(s)), float(np.percentile(s, 10)), float(np.percentile(s, 90)))
            for label, length, s in zip(labels, lengths, per_call)]
    for row in rows:
        if row.p10 <= 0:
            raise BenchError(f"{row.name} timed no slower than an empty call ({row.p10:.2f} ticks at the 10th "
                             "percentile): the machine is too noisy, rerun with more --reps")
    for row in rows:
        row.ratio = row.median / rows[0].median
    return rows


def table(rows: list[Row]) -> str:
    lines = [f"{'kernel':<34}{'length':>7}{'ticks/call':>12}{'p10-p90':>16}{'vs reference':>14}"]
    for r in rows:
        length = "" if r.length is None else str(r.length)
        lines.append(f"{r.name:<34}{length:>7}{r.median:>12.2f}{f'{r.p10:.2f}-{r.p90:.2f}':>16}{r.ratio:>13.2f}x")
    return "\n".join(lines)
