"""Differential soak: many random programs, every backend, every disagreement printed.

    python experiments/soak_backends.py --programs 100000 --seed 0

The same generator as the hypothesis tests (`isa.testing`), driven by a numpy stream so that a
long run is cheap; a failing program is printed as Intel syntax with the seed that made it.
"""
from __future__ import annotations

import argparse
import time

import numpy as np

from isa import testing, to_text
from isa import execute


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--programs", type=int, default=1000)
    parser.add_argument("--inputs", type=int, default=4, help="inputs per program")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--backends", default="jax,unicorn,native")
    parser.add_argument("--show", type=int, default=5, help="failing programs to print")
    args = parser.parse_args()
    backends = args.backends.split(",")
    rng = np.random.default_rng(args.seed)
    chooser = testing.NumpyChooser(rng)
    failing, faulted, total = 0, 0, 0
    start = time.time()
    for n in range(args.programs):
        data_size = int(rng.choice([8, 12, 16, 24]))
        program = testing.random_program(chooser, max_length=16, data_size=data_size)
        inputs = testing.random_inputs(rng, args.inputs, data_size)
        runs = {b: execute(program, inputs, b) for b in backends}
        ref = runs[backends[0]]
        faulted += sum(f is not None for f in ref.fault)
        total += len(inputs)
        problems = [p for b in backends[1:] for p in testing.disagreements(ref, runs[b], (backends[0], b))]
        if problems:
            failing += 1
            if failing <= args.show:
                print(f"--- program {n} (seed {args.seed}) disagrees:\n{to_text(program)}" + "\n".join(problems[:8]))
        if (n + 1) % 1000 == 0:
            print(f"{n + 1} programs, {failing} disagreeing, {time.time() - start:.0f} s", flush=True)
    print(f"programs: {args.programs}, inputs: {total} ({faulted} faulted), backends: {','.join(backends)}, "
          f"disagreeing programs: {failing}, seconds: {time.time() - start:.0f}")
    raise SystemExit(1 if failing else 0)


if __name__ == "__main__":
    main()
