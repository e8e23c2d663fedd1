"""Native throughput and latency of the human references, gcc -O3 C, AlphaDev's kernels and any
records, one report per game.

    python experiments/bench_native.py [--games sort3,sort4,sort5,varsort3,hash9to16]
        [--alphadev sort_functions_test.cc] [RECORD ...]

Records are added to the report of their game; AlphaDev's kernels (converted and verified as
`alphadev bench --alphadev` does) to theirs. Everything in a report is measured side by side in
one run (see alphadev/bench.py for the method); figures are core cycles per call.
"""
from __future__ import annotations

import argparse

from alphadev.bench import bench, report_text
from alphadev.inline_asm import verified_kernels
from alphadev.results import MIN_RANDOM_INPUTS, load


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("records", nargs="*")
    parser.add_argument("--games", default="sort3,sort4,sort5,varsort3,hash9to16")
    parser.add_argument("--alphadev", metavar="FILE")
    parser.add_argument("--reps", type=int, default=21)
    args = parser.parse_args()
    records = [load(path) for path in args.records]
    for game in args.games.split(","):
        programs = [(f"{r.source or 'record'} ({r.length})", r.program) for r in records if r.game == game]
        alphadev = []
        if args.alphadev:
            try:
                alphadev, problems = verified_kernels(args.alphadev, game, n_random=MIN_RANDOM_INPUTS)
            except ValueError as e:  # no kernel for this game
                problems = [str(e)]
            for problem in problems:
                print(f"skipped {problem}")
        print()
        print(report_text(bench(game, programs, alphadev=alphadev, reps=args.reps)), flush=True)


if __name__ == "__main__":
    main()
