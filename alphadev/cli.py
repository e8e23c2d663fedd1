"""The `alphadev` command: demo, games, verify, export, show, bench.

Every problem with a file, a game name or a record is one line on stderr and exit code 2.
"""
from __future__ import annotations

import argparse
import sys

def demo(_args) -> int:
    import numpy as np

    import isa
    from games.sort import sorting_network
    from isa import latency
    from isa import Inputs, execute

    program = sorting_network(3)
    values = np.array([[3, 1, 2], [2, 2, 1], [-5, 7, -2147483648], [2147483647, 0, -1]], np.int32)
    inputs = Inputs(np.zeros((len(values), 16), np.uint64), values.view(np.uint8).reshape(len(values), 12))
    print("alphadev demo: a known 18-instruction sort3")
    print("(a cmov sorting network) on the three machine backends and prints what each saw.\n")
    print(isa.to_text(program))
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


def games_(_args) -> int:
    import games
    for name in games.names():
        game = games.make(name)
        print(f"{name:<12} {game.num_actions:>4} actions  {game.num_inputs:>4} inputs  "
              f"max length {game.config.max_length}")
    return 0


def _load(path, game=None):
    from alphadev.results import load
    return load(path, game)


def verify(args) -> int:
    import dataclasses

    from alphadev.verify import verify as run_verify
    from isa import latency

    record = _load(args.file, args.game)
    print(f"verifying {record.length}-instruction {record.game} program on Unicorn and natively "
          f"({args.random:,} random inputs besides the task's own)...")
    result = run_verify(record.program, record.game, n_random=args.random, seed=args.seed)
    record.verification = dataclasses.asdict(result)
    try:
        report = latency.mca(record.program)
        record.latency.update(cycles=report.cycles, mcpu=report.mcpu)
    except latency.McaUnavailable:
        pass
    print(f"unicorn: {'passed' if result.unicorn else 'FAILED'}   native: {'passed' if result.native else 'FAILED'}"
          f"   inputs: {result.inputs:,}")
    if result.first_failure:
        print(f"first failure: {result.first_failure}")
    out = args.out or (args.file if str(args.file).endswith(".json") else None)
    if out:
        print(f"record written to {record.save(out)}")
    return 0 if result.passed else 1


def export(args) -> int:
    from pathlib import Path

    from alphadev.formats import render
    record = _load(args.record)
    text = render(record, args.format, args.name)
    Path(args.output).write_text(text)
    print(f"wrote {args.output}: {args.name or 'alphadev_' + record.game}, {record.length} instructions")
    return 0


def show(args) -> int:
    from alphadev.inspection import listing
    from isa import latency
    record = _load(args.record, args.game)
    program = record.program
    lines = listing(program)
    size = sum(len(line.code) for line in lines)
    print(f"{record.game}: {record.length} instructions, {size} bytes"
          + (f", found {record.found} (seed {record.seed})" if record.seed is not None else ""))
    print(f"{'#':>3} {'offset':>6}  {'bytes':<30} {'source':<34} capstone")
    for line in lines:
        if line.label:
            print(f"{'':>42}{line.label}:")
        print(f"{line.index:>3} {line.offset:>6x}  {line.code.hex(' '):<30} {line.source:<34} {line.capstone}")
    end = program.label_names().get(len(program))
    if end:
        print(f"{'':>42}{end}:")
    try:
        report = latency.mca(program)
        print(f"llvm-mca ({report.mcpu}): {report.cycles} cycles, block reciprocal throughput "
              f"{report.block_rthroughput}, {report.uops} uops")
    except latency.McaUnavailable as e:
        print(e)
    v = record.verification
    print("verification: " + ("none (run `alphadev verify`)" if not v else
          f"unicorn {'passed' if v['unicorn'] else 'FAILED'}, native {'passed' if v['native'] else 'FAILED'}, "
          f"{v['inputs']:,} inputs, {v['when']}"))
    return 0


def bench(args) -> int:
    from alphadev.bench import bench as run_bench, table
    records = [_load(path, args.game) for path in args.records]
    game = args.game or (records[0].game if records else None)
    if game is None:
        raise SystemExit("alphadev bench: give records or --game")
    if any(r.game != game for r in records):
        raise SystemExit("alphadev bench: the records are for different games")
    programs = [(f"{r.source or 'record'} ({r.length})", r.program) for r in records]
    rows = run_bench(game, programs, reps=args.reps)
    print(f"{game}: latency per call natively, TSC ticks, median of {args.reps} passes over 16,384 random inputs")
    print(table(rows))
    return 0


def train(args) -> int:
    from pathlib import Path

    from alphadev.config import load_config, resume_config
    from alphadev.train import Trainer
    overrides = dict(seed=args.seed, minutes=args.minutes, planner=args.planner)
    out = args.out
    if out is None:
        config = load_config(args.game, args.config, **overrides)
        out = f"runs/{args.game}-{config.search.planner}-seed{config.seed}"
    if (Path(out) / "config.json").exists():
        config = resume_config(Path(out), args.game, args.config, **overrides)
    else:
        config = load_config(args.game, args.config, **overrides)
    trainer = Trainer(config, out)
    print(f"alphadev train {args.game}: planner {config.search.planner}, seed {config.seed}, "
          f"{config.minutes:g} min, target length {config.target_length or '-'}; run directory {out}")
    best = trainer.train(max_iterations=args.iterations)
    if best is None:
        print("no correct program found")
        return 1
    print(f"best: {best.length} instructions ({out}/best.json)"
          + (" - target reached" if trainer.done() else ""))
    return 0 if trainer.done() or not config.target_length else 1


def load_tasks(path: str) -> None:
    """Runs a Python file that registers tasks (`games.register`), as `--tasks` does."""
    import importlib.util
    from pathlib import Path
    file = Path(path)
    if not file.is_file():
        raise OSError(f"--tasks {path}: no such file")
    spec = importlib.util.spec_from_file_location(f"alphadev_tasks_{file.stem}", file)
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as e:  # the user's file: any error is theirs, in one line
        raise ValueError(f"--tasks {path}: {type(e).__name__}: {e}") from None


def main(argv=None) -> int:
    from alphadev.results import RecordError
    parser = argparse.ArgumentParser(prog="alphadev", description="AlphaDev-style assembly superoptimizer")
    parser.add_argument("--tasks", action="append", default=[], metavar="FILE.py",
                        help="a Python file that registers your own tasks with games.register (repeatable)")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("demo", help="run a known sort3 program on the jax, unicorn and native backends").set_defaults(fn=demo)
    sub.add_parser("games", help="list the games").set_defaults(fn=games_)
    p = sub.add_parser("train", help="search for a program with learning and tree search")
    p.add_argument("game")
    p.add_argument("--seed", type=int)
    p.add_argument("--minutes", type=float)
    p.add_argument("--out", help="run directory (default runs/GAME-PLANNER-seedS); rerun to resume")
    p.add_argument("--planner", choices=["exact", "muzero"])
    p.add_argument("--config", help="a JSON config for a new run (default: the recipe and the game's shipped delta)")
    p.add_argument("--iterations", type=int, help="stop after this many more iterations")
    p.set_defaults(fn=train)
    p = sub.add_parser("verify", help="verify a record or .s program on Unicorn and natively")
    p.add_argument("file")
    p.add_argument("--game")
    p.add_argument("--out", help="write the verified record here (default: update a .json FILE in place)")
    p.add_argument("--random", type=int, default=100_000, help="random inputs besides the task's (default 100000)")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(fn=verify)
    p = sub.add_parser("export", help="write a verified record as a C header, C, C++, a .S file or Rust")
    p.add_argument("record")
    p.add_argument("-o", "--output", required=True)
    p.add_argument("--name", help="C function name (default alphadev_<game>)")
    p.add_argument("--format", default="header", choices=("header", "c", "cpp", "asm", "rust"),
                   help="header: inline asm and the function's bytes (default); c: portable C; cpp: a template "
                        "over value type and comparator; asm: a GNU as .S file; rust: core::arch::asm!")
    p.set_defaults(fn=export)
    p = sub.add_parser("show", help="print a record's listing and figures")
    p.add_argument("record")
    p.add_argument("--game", help="for a .s file")
    p.set_defaults(fn=show)
    p = sub.add_parser("bench", help="time records natively against the human reference and gcc -O3 C")
    p.add_argument("records", nargs="*")
    p.add_argument("--game")
    p.add_argument("--reps", type=int, default=21)
    p.set_defaults(fn=bench)
    args = parser.parse_args(argv)
    try:
        for path in args.tasks:
            load_tasks(path)
        return args.fn(args)
    except (RecordError, ValueError, OSError) as e:  # ConfigError is a ValueError
        print(f"alphadev {args.command}: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
