"""The `alphadev` command: demo, games, train, search, verify, export, show, bench, rerank, plot.

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


def _record_out(args):
    """Where `verify` writes the record (None: nowhere), checked before the verification runs.

    Raises:
      RecordError: for a path that is not `.json` (so never the program file), is a directory,
        or lies in a directory that is missing or cannot be written.
    """
    import tempfile
    from pathlib import Path

    from alphadev.results import RecordError
    out = args.out or (args.file if str(args.file).endswith(".json") else None)
    if out is None:
        return None
    out, where = Path(out), f"--out {out}" if args.out else str(out)
    if out.suffix != ".json":
        same = out.exists() and Path(args.file).exists() and out.samefile(args.file)
        raise RecordError(f"{where}: " + ("that is the program being verified; " if same else "")
                          + "a record is written to a .json file")
    if out.is_dir():
        raise RecordError(f"{where}: is a directory")
    if not out.parent.is_dir():
        raise RecordError(f"{where}: no such directory {out.parent}")
    try:  # a real write, not os.access: that says yes to root on a read-only file system
        with tempfile.NamedTemporaryFile(dir=out.parent, prefix=f".{out.name}.", suffix=".probe"):
            pass
    except OSError as e:
        raise RecordError(f"{where}: cannot write in {out.parent} ({e.strerror})") from None
    return out


def verify(args) -> int:
    import dataclasses

    from alphadev.verify import verify as run_verify
    from isa import latency

    record = _load(args.file, args.game)
    out = _record_out(args)
    if args.random < 0:
        raise ValueError(f"--random {args.random}: must be 0 or more")
    print(f"verifying {record.length}-instruction {record.game} program on Unicorn and natively "
          f"({args.random:,} random inputs besides the task's own)...")
    result = run_verify(record.program, record.game, n_random=args.random, seed=args.seed)
    record.verification = dataclasses.asdict(result)
    try:
        report = latency.mca(record.program)
        record.latency.update(cycles=report.cycles, mcpu=report.mcpu)
    except (latency.McaUnavailable, ValueError) as e:  # the verification stands without cycles
        record.latency.update(cycles=None)
        record.latency.pop("mcpu", None)
        print(f"cycles not measured: {e}")
    for line in _battery_lines(result.battery):
        print(line)
    print(f"unicorn: {'passed' if result.unicorn else 'FAILED'}   native: {'passed' if result.native else 'FAILED'}"
          f"   inputs: {result.inputs:,}")
    if result.first_failure:
        print(f"first failure: {result.first_failure}")
    if out:
        print(f"record written to {record.save(out)}")
    if result.passed and (short := record.untrusted()):
        print(f"note: export and bench will refuse it: {short}")
    return 0 if result.passed else 1


def export(args) -> int:
    from pathlib import Path

    from alphadev.formats import render
    output = Path(args.output)
    if output.exists() and output.resolve() == Path(args.record).resolve():
        raise ValueError(f"-o {args.output}: that is the record being exported; write the export elsewhere")
    if not output.parent.is_dir():
        raise ValueError(f"-o {args.output}: no directory {output.parent}")
    record = _load(args.record)
    text = render(record, args.format, args.name, min_random=args.min_random)
    output.write_text(text)
    print(f"wrote {args.output}: {args.name or 'alphadev_' + record.game}, {record.length} instructions")
    return 0


def _battery_lines(battery) -> list[str]:
    """A verification's battery figures, one line per family (none without a battery)."""
    from games import Verdict
    return [f"battery {line}" for line in Verdict.from_dict(battery).lines()] if battery else []


def _verification_line(record) -> str:
    """`show`'s one line on the verification (a trusted one, or one that honestly failed)."""
    v = record.verification
    if not v:
        return "verification: none (run `alphadev verify`)"
    found = (f"unicorn {'passed' if v['unicorn'] else 'FAILED'}, native {'passed' if v['native'] else 'FAILED'}, "
             f"{v['inputs']:,} inputs, {v['when']}")
    return f"verification: {found}"


def show(args) -> int:
    from alphadev.inspection import listing
    from alphadev.results import RecordError
    from isa import latency
    record = _load(args.record, args.game)
    problem = record.verification is not None and record.untrusted(min_random=args.min_random)
    # A verification that honestly failed is worth seeing; one that no longer matches its
    # program, or stands below the minimum, is refused as export and bench refuse it.
    if problem and not problem.startswith("verification failed"):
        raise RecordError(f"{args.record}: {problem}")
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
    except (latency.McaUnavailable, ValueError) as e:
        print(f"cycles not measured: {e}")
    print(_verification_line(record))
    for line in _battery_lines(record.verification and record.verification.get("battery")):
        print(line)
    return 0


def _bench_inputs(args) -> tuple[str, list[str]]:
    """(the game, the record paths) of `bench`'s arguments: a registered game's name (that is
    no file) names the game, anything else is a record."""
    from pathlib import Path

    import games
    game, paths = args.game, []
    for item in args.inputs:
        if item in games.names() and not Path(item).exists():
            if game not in (None, item):
                raise ValueError(f"two games given: {game} and {item}")
            game = item
        else:
            paths.append(item)
    if game is None and not paths:
        raise ValueError("give a game, records or --game")
    return game, paths


def _alphadev_kernels(path: str, game: str, n_random: int) -> list:
    """AlphaDev's kernels for `game` from `path`, each verified; one line for each one skipped."""
    from alphadev.inline_asm import verified_kernels
    kept, problems = verified_kernels(path, game, n_random=n_random, progress=lambda line: print(line, flush=True))
    for problem in problems:
        print(f"skipped {problem}")
    return kept


def bench(args) -> int:
    from pathlib import Path

    from alphadev.bench import MIN_REPS, bench as run_bench, report_text
    from alphadev.results import RecordError
    if args.reps < MIN_REPS:
        raise ValueError(f"--reps {args.reps}: at least {MIN_REPS} passes are needed for a median and a spread")
    game, paths = _bench_inputs(args)
    records = [(path, _load(path, game)) for path in paths]
    game = game or records[0][1].game
    if any(r.game != game for _, r in records):
        raise RecordError("the records are for different games: " + ", ".join(f"{p} ({r.game})" for p, r in records))
    for path, r in records:  # they run natively with no checks: a faulting one would kill the harness
        if problem := r.untrusted(min_random=args.min_random):
            raise RecordError(f"{path}: refusing to time it: {problem}")
    labels = [r.source or "record" for _, r in records]
    if len(set(labels)) < len(labels):  # records of one source: told apart by where they are
        labels = [f"{Path(path).parent.name}/{Path(path).name}".lstrip("/") for path, _ in records]
    programs = [(f"{label} ({r.length})", r.program) for label, (_, r) in zip(labels, records)]
    alphadev = _alphadev_kernels(args.alphadev, game, args.min_random) if args.alphadev else []
    report = run_bench(game, programs, alphadev=alphadev, reps=args.reps, counter=args.counter == "auto",
                       mcpu=args.mcpu)
    print(report_text(report))
    return 0


def train(args) -> int:
    """Trains into a run directory, or resumes it. A second writer, another run's directory or a
    damaged file is a one-line error (exit 2) before anything is written; SIGINT and SIGTERM save
    a checkpoint after the current iteration and exit 130 and 143."""
    from pathlib import Path

    from alphadev import distributed
    # Before anything else touches JAX's backends.
    distributed.initialize(coordinator=args.coordinator, num_processes=args.num_processes,
                           process_id=args.process_id, from_environment=args.distributed)
    from alphadev.config import load_config, resume_config
    from alphadev.train import Interrupted, Trainer
    overrides = dict(seed=args.seed, minutes=args.minutes, planner=args.planner)
    out = args.out
    if out is None:
        config = load_config(args.game, args.config, **overrides)
        out = f"runs/{args.game}-{config.search.planner}-seed{config.seed}"
    if (Path(out) / "config.json").exists():
        config = resume_config(Path(out), args.game, args.config, **overrides)
    else:
        config = load_config(args.game, args.config, **overrides)
    try:
        trainer = Trainer(config, out)
        print(f"alphadev train {args.game}: planner {config.search.planner}, seed {config.seed}, "
              f"{config.minutes:g} min, target length {config.target_length or '-'}; run directory {out}", flush=True)
        best = trainer.train(max_iterations=args.iterations)
    except Interrupted as e:
        print(f"alphadev train: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:  # before the handlers are set, or a second Ctrl-C
        print(f"alphadev train: interrupted; {out} resumes from its last checkpoint", file=sys.stderr)
        return 130
    if best is None:
        print("no correct program found")
        return 1
    print(f"best: {best.length} instructions ({out}/best.json)"
          + (" - target reached" if trainer.done() else ""))
    return 0 if trainer.done() or not config.target_length else 1


def search(args) -> int:
    """A baseline search (or the agent, for `--method agent`) into a new run directory."""
    if args.method == "agent":
        if args.set:
            raise ValueError("--set: the agent takes its settings from --config (see alphadev train)")
        args.planner, args.iterations = None, None
        return train(args)
    if args.coordinator or args.num_processes or args.process_id is not None or args.distributed:
        raise ValueError(f"--method {args.method} runs in one process; several processes train the agent only")
    from alphadev import baselines
    options = baselines.parse_options(args.method, args.set)
    out = args.out or f"runs/{args.game}-{args.method}-seed{args.seed or 0}"
    try:
        best = baselines.run(args.method, args.game, out, minutes=args.minutes or 10.0, seed=args.seed or 0,
                             options=options)
    except KeyboardInterrupt:
        print(f"alphadev search: interrupted; the records found so far are in {out}", file=sys.stderr)
        return 130
    if best is None:
        print("no correct program found")
        return 1
    print(f"best: {best.length} instructions ({out}/best.json)")
    return 0


def rerank(args) -> int:
    """A run's shortest programs with the fewest model cycles, verified and timed natively; the
    fastest written as a verified record."""
    from pathlib import Path

    from alphadev.bench import report_text
    from alphadev.rerank import rerank as run_rerank
    from alphadev.rerank import shortlist
    output = Path(args.output)
    if output.suffix != ".json" or not output.parent.is_dir():
        raise ValueError(f"-o {args.output}: a .json file in an existing directory")
    theirs = []
    if args.alphadev:
        from alphadev.inline_asm import verified_kernels
        game, _ = shortlist(args.run, args.top)
        theirs, skipped = verified_kernels(args.alphadev, game, n_random=args.random)
        for line in skipped:
            print(f"skipped: {line}")
    record, report = run_rerank(args.run, top=args.top, n_random=args.random, alphadev=theirs, reps=args.reps)
    print(report_text(report))
    native = record.latency["native"]
    print(f"fastest: {record.source}: throughput {native['throughput']['cycles']} and latency "
          f"{native['latency']['cycles']} cycles per call; record written to {record.save(output)}")
    return 0


def plot(args) -> int:
    from alphadev.plot import plot_runs
    out = plot_runs(args.runs, args.output, title=args.title)
    print(f"wrote {out}: {len(args.runs)} run(s)")
    return 0


def load_tasks(path: str) -> None:
    """Runs a Python file that registers tasks (`games.register`), as `--tasks` does."""
    import games
    games.registry.load_tasks(path)


def _user_errors() -> tuple:
    """The exceptions that are the user's to fix (a file, an option, a missing tool): one line each."""
    from alphadev.bench import BenchError
    from alphadev.results import RecordError
    from isa.latency import McaUnavailable
    from isa.native import NativeUnavailable
    return RecordError, ValueError, OSError, BenchError, McaUnavailable, NativeUnavailable  # ConfigError: a ValueError


def _count(least: int):
    """An argparse type: an integer of at least `least` (argparse makes a bad one one line, exit 2)."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
        if value < least:
            raise argparse.ArgumentTypeError(f"must be at least {least}, not {value}")
        return value
    return parse


def _distributed_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("several processes (one per host; alphadev/distributed.py)")
    g.add_argument("--coordinator", metavar="HOST:PORT", help="process 0's address, the same for every process")
    g.add_argument("--num-processes", type=_count(1), metavar="N")
    g.add_argument("--process-id", type=_count(0), metavar="K", help="this process, 0..N-1 (0 writes the run)")
    g.add_argument("--distributed", action="store_true",
                   help="read the three from the environment a cluster scheduler sets (SLURM, Open MPI, TPU VM)")


def main(argv=None) -> int:
    from alphadev.results import MIN_RANDOM_INPUTS
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
    p.add_argument("--iterations", type=_count(0), help="stop after this many more iterations (0: resume and save only)")
    _distributed_options(p)
    p.set_defaults(fn=train)
    p = sub.add_parser("search", help="a baseline search (A*, stochastic, beam, random) or the agent, in the same run format")
    p.add_argument("game")
    p.add_argument("--method", required=True, choices=["astar", "stochastic", "beam", "random", "agent"])
    p.add_argument("--minutes", type=float, help="time budget, compilation included (default 10)")
    p.add_argument("--seed", type=int)
    p.add_argument("--out", help="a new run directory (default runs/GAME-METHOD-seedS)")
    p.add_argument("--config", help="for --method agent: a JSON config, as for train")
    p.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                   help="a method's option (repeatable), e.g. --set width=256 for beam")
    _distributed_options(p)
    p.set_defaults(fn=search)
    p = sub.add_parser("verify", help="verify a record or .s program on Unicorn and natively")
    p.add_argument("file")
    p.add_argument("--game")
    p.add_argument("--out", help="write the verified record here (default: update a .json FILE in place)")
    p.add_argument("--random", type=_count(0), default=MIN_RANDOM_INPUTS,
                   help=f"random inputs besides the task's (default {MIN_RANDOM_INPUTS}; export and bench need as many)")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(fn=verify)
    p = sub.add_parser("export", help="write a verified record as a C header, C, C++, a .S file or Rust")
    p.add_argument("record")
    p.add_argument("-o", "--output", required=True)
    p.add_argument("--name", help="C function name (default alphadev_<game>)")
    p.add_argument("--min-random", type=_count(0), default=MIN_RANDOM_INPUTS, metavar="N",
                   help=f"the least random inputs the verification must have run (default {MIN_RANDOM_INPUTS})")
    p.add_argument("--format", default="header", choices=("header", "c", "cpp", "asm", "rust"),
                   help="header: inline asm and the function's bytes (default); c: portable C; cpp: a template "
                        "over value type and comparator; asm: a GNU as .S file; rust: core::arch::asm!")
    p.set_defaults(fn=export)
    p = sub.add_parser("show", help="print a record's listing and figures")
    p.add_argument("record")
    p.add_argument("--game", help="for a .s file")
    p.add_argument("--min-random", type=_count(0), default=MIN_RANDOM_INPUTS, metavar="N",
                   help=f"the least random inputs a verification must have run (default {MIN_RANDOM_INPUTS})")
    p.set_defaults(fn=show)
    p = sub.add_parser("bench", help="time records natively, in throughput and latency, against the human "
                       "references, AlphaDev's kernels and gcc -O3 C")
    p.add_argument("inputs", nargs="*", metavar="GAME|RECORD", help="a game's name and/or records to time")
    p.add_argument("--game")
    p.add_argument("--alphadev", metavar="FILE", help="AlphaDev's released sort_functions_test.cc (or a file "
                   "in its format): its kernels for the game, verified, are timed too")
    p.add_argument("--reps", type=int, default=21, help="passes per kernel and mode (default 21, at least 5)")
    p.add_argument("--min-random", type=_count(0), default=MIN_RANDOM_INPUTS, metavar="N",
                   help=f"the least random inputs a record's verification must have run, and those AlphaDev's "
                   f"kernels are verified on (default {MIN_RANDOM_INPUTS})")
    p.add_argument("--counter", choices=("auto", "tsc"), default="auto",
                   help="auto: the core-cycle counter where it can be read, else the TSC (default); tsc: the TSC")
    p.add_argument("--mcpu", default="skylake", help="llvm-mca's CPU model for the figures' bounds (default skylake)")
    p.set_defaults(fn=bench)
    p = sub.add_parser("rerank", help="verify and time a run's best few programs natively; write the fastest")
    p.add_argument("run", metavar="RUN")
    p.add_argument("-o", "--output", required=True, help="the record to write (.json)")
    p.add_argument("--top", type=_count(1), default=8, help="candidates timed natively (default 8)")
    p.add_argument("--alphadev", metavar="FILE", help="DeepMind's sort_functions_test.cc, timed beside them")
    p.add_argument("--random", type=_count(0), default=MIN_RANDOM_INPUTS,
                   help=f"random inputs each is verified on (default {MIN_RANDOM_INPUTS})")
    p.add_argument("--reps", type=_count(5), default=21, help="bench passes per kernel and mode (default 21)")
    p.set_defaults(fn=rerank)
    p = sub.add_parser("plot", help="draw best length and correctness against time for run directories")
    p.add_argument("runs", nargs="+", metavar="RUN")
    p.add_argument("-o", "--output", default="curves.png", help="image file (default curves.png)")
    p.add_argument("--title")
    p.set_defaults(fn=plot)
    args = parser.parse_args(argv)
    if args.command in ("train", "search", "bench", "verify", "rerank"):
        from alphadev import compile_cache
        compile_cache.enable()
    try:
        for path in args.tasks:
            load_tasks(path)
        return args.fn(args)
    except Exception as e:
        if not isinstance(e, _user_errors()):
            raise
        print(f"alphadev {args.command}: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
