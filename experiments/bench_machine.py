"""Program x input evaluations per second: the JAX machine against Unicorn and native.

    python experiments/bench_machine.py [--programs 2048] [--repeats 5]

Measured side by side in one run on sort-like programs of 17 instructions (3 loads, 11 random
mov/cmp/cmov over 4 registers, 3 stores) over the 13 sort3 test inputs (every ordering with
ties of {1, 2, 3}). JAX runs the programs as one batch (`isa.jax_machine.run_batch`, compile
time excluded and reported apart), once as the full machine and once compiled for the
operation classes the batch uses (what a game's fixed vocabulary runs); Unicorn and native run
program after program through `isa.execute`, as verification does. Ends with
`jax/unicorn throughput ratio: X` for the vocabulary-compiled machine; the full machine's
ratio is printed on the line before.
"""
from __future__ import annotations

import argparse
import itertools
import time

import jax
import numpy as np

from isa import Instruction, Mem, Program, Reg, jax_machine, u64
from isa import Inputs, execute

REGS = ("eax", "ecx", "edx", "r8d")


def sort3_inputs() -> Inputs:
    """The 13 orderings of three values with ties, as values in {1, 2, 3}."""
    rows = [v for v in itertools.product((1, 2, 3), repeat=3) if set(v) == set(range(1, max(v) + 1))]
    values = np.array(rows, np.int32)
    return Inputs(np.zeros((len(values), 16), np.uint64), values.view(np.uint8).reshape(len(values), 12))


def sort_like_program(rng: np.random.Generator) -> Program:
    body = [Instruction("mov", (Reg(REGS[k]), Mem(32, "rdi", disp=4 * k))) for k in range(3)]
    for _ in range(11):
        op = rng.choice(["mov", "cmp", "cmovl", "cmovg", "cmovle", "cmovge"])
        a, b = rng.choice(len(REGS), 2, replace=False)
        body.append(Instruction(str(op), (Reg(REGS[a]), Reg(REGS[b]))))
    if not any(i.mnemonic == "cmp" for i in body[3:5]):
        body[3] = Instruction("cmp", (Reg("eax"), Reg("ecx")))  # flags defined before any cmov
    body += [Instruction("mov", (Mem(32, "rdi", disp=4 * k), Reg(REGS[k]))) for k in range(3)]
    return Program(tuple(body))


def rate(fn, evaluations: int, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return evaluations / best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--programs", type=int, default=2048, help="JAX batch of programs")
    parser.add_argument("--sequential", type=int, default=40, help="programs for Unicorn and native")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    inputs = sort3_inputs()
    programs = [sort_like_program(rng) for _ in range(args.programs)]
    n_in = len(inputs)

    tokens = np.stack([jax_machine.encode_program(p) for p in programs])
    regs = np.broadcast_to(u64.split(inputs.registers), (len(programs), n_in, 16, 2)).copy()
    mem = np.broadcast_to(inputs.memory, (len(programs), n_in, inputs.data_size)).copy()
    rates, compile_s = {}, {}
    for name, ops in (("jax", jax_machine.ALL_OPS), ("jax-vocab", jax_machine.ops_of(tokens))):
        run = lambda ops=ops: jax.block_until_ready(jax_machine.run_batch(tokens, regs, mem, ops=ops))
        start = time.perf_counter()
        run()
        compile_s[name] = time.perf_counter() - start
        rates[name] = rate(run, len(programs) * n_in, args.repeats)

    few = programs[:args.sequential]
    for backend in ("unicorn", "native"):
        rates[backend] = rate(lambda b=backend: [execute(p, inputs, b) for p in few], len(few) * n_in, 1)

    print(f"sort-like programs of 17 instructions x {n_in} inputs; jax batch {len(programs)} "
          f"(compile {compile_s['jax']:.1f} s), {len(few)} programs sequentially for the others")
    print("jax: the full machine; jax-vocab: compiled for the operation classes the batch uses "
          f"({', '.join(sorted(jax_machine.ops_of(tokens)))}), as a game with a fixed vocabulary runs it")
    print(f"{'backend':<10}{'evaluations/s':>16}")
    for name, r in rates.items():
        print(f"{name:<10}{r:>16,.0f}")
    print(f"full jax/unicorn throughput ratio: {rates['jax'] / rates['unicorn']:.1f}")
    print(f"jax/native throughput ratio: {rates['jax-vocab'] / rates['native']:.1f}")
    print(f"jax/unicorn throughput ratio: {rates['jax-vocab'] / rates['unicorn']:.1f}")


if __name__ == "__main__":
    main()
