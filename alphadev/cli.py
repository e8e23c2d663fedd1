"""The `alphadev` command.

Until the agent lands, the only job is `alphadev demo`: a known sort3 program run on all three
backends, which shows that the machine models agree.
"""
from __future__ import annotations

import argparse
import sys

DEMO_SORT3 = """\
mov eax, dword ptr [rdi]
mov ecx, dword ptr [rdi+4]
mov edx, dword ptr [rdi+8]
mov r8d, eax
cmp eax, ecx
cmovg eax, ecx
cmovg ecx, r8d
mov r8d, ecx
cmp ecx, edx
cmovg ecx, edx
cmovg edx, r8d
mov r8d, eax
cmp eax, ecx
cmovg eax, ecx
cmovg ecx, r8d
mov dword ptr [rdi], eax
mov dword ptr [rdi+4], ecx
mov dword ptr [rdi+8], edx
"""


def demo(_args) -> int:
    import numpy as np

    import isa
    from isa import latency
    from isa.machine import Inputs, execute

    program = isa.parse(DEMO_SORT3)
    values = np.array([[3, 1, 2], [2, 2, 1], [-5, 7, -2147483648], [2147483647, 0, -1]], np.int32)
    inputs = Inputs(np.zeros((len(values), 16), np.uint64), values.view(np.uint8).reshape(len(values), 12))
    print("alphadev demo: the agent is not built yet; this runs a known 18-instruction sort3")
    print("(a cmov sorting network) on the three machine backends and prints what each saw.\n")
    print(isa.format(program))
    print(f"machine code ({len(isa.assemble(program))} bytes): {isa.assemble(program).hex()}")
    report = latency.mca(program)
    print(f"llvm-mca ({report.mcpu}): {report.cycles} cycles for one call, "
          f"block reciprocal throughput {report.block_rthroughput}\n")
    print("inputs:  " + "  ".join(str(v.tolist()) for v in values))
    results = {}
    for backend in ("jax", "unicorn", "native"):
        run = execute(program, inputs, backend)
        results[backend] = run
        sorted_ = "  ".join(str(v.tolist()) for v in run.memory.view(np.int32))
        print(f"{backend:<8} {sorted_}   executed {run.executed.tolist()}  faults {sum(f is not None for f in run.fault)}")
    same = all(np.array_equal(results["jax"].registers, r.registers) and np.array_equal(results["jax"].memory, r.memory)
               for r in results.values())
    print(f"\nall three backends agree on every register and byte: {same}")
    return 0 if same else 1


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="alphadev", description="AlphaDev-style assembly superoptimizer")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("demo", help="run a known sort3 program on the jax, unicorn and native backends").set_defaults(fn=demo)
    args = parser.parse_args(argv)
    return args.fn(args)


if __name__ == "__main__":
    sys.exit(main())
