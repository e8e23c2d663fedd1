"""Native latency of the human references, gcc -O3 C and any records, one table per game.

    python experiments/bench_native.py [--games sort3,sort4,sort5,varsort3,hash9to16] [RECORD ...]

Records are added to the table of their game. Everything in a table is measured side by side
in one run (see alphadev/bench.py for the method); figures are TSC ticks per call.
"""
from __future__ import annotations

import argparse

from alphadev.bench import bench, table
from alphadev.results import load


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("records", nargs="*")
    parser.add_argument("--games", default="sort3,sort4,sort5,varsort3,hash9to16")
    parser.add_argument("--reps", type=int, default=21)
    args = parser.parse_args()
    records = [load(path) for path in args.records]
    for game in args.games.split(","):
        programs = [(f"{r.source or 'record'} ({r.length})", r.program) for r in records if r.game == game]
        print(f"\n{game}: latency per call, TSC ticks, median of {args.reps} passes over 16,384 random inputs")
        print(table(bench(game, programs, reps=args.reps)), flush=True)


if __name__ == "__main__":
    main()
