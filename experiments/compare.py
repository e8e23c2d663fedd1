"""The methods side by side: one table and one plot per game, same machine, budget and seeds.

    python experiments/compare.py sort3,sort4 [--methods astar,stochastic,beam,random,agent,frozen]
                                  [--minutes 10] [--seeds 0,1,2] [--jobs 2] [--out runs/compare]
                                  [--set METHOD.NAME=VALUE ...]

Each (game, method, seed) runs in its own process pinned to one core (of those the script may
use) with XLA's CPU threading off, `--jobs` at a time, into OUT/GAME-METHOD-seedS (a rerun
deletes it first: baselines do not resume). `agent` is `alphadev train` with the shipped config;
`frozen` the same with `ablation.frozen_network` (the network as initialised). Then, with no
search running, each run's best program is verified (Unicorn and natively, `--random` inputs
beyond the task's) and timed natively in one `alphadev.bench` run per game beside the task's
references (and AlphaDev's kernels, given their file).

Columns: game, method, seed, seconds to the first correct program, seconds to the target
length, best length, programs or states explored (episodes for the agent; children stepped,
programs proposed or episodes for the baselines), and the native throughput and latency ratios
to the first reference, or to AlphaDev's kernel with `--alphadev FILE` (nan: not timed). A time
missing ('-') was not reached. Writes OUT/GAME.png: best length against time, one line per run.
"""
from __future__ import annotations

import argparse
import dataclasses
import multiprocessing
import os
import shutil
from pathlib import Path

METHODS = ("astar", "stochastic", "beam", "random", "agent", "frozen")


def run_one(out: Path, game: str, method: str, seed: int, minutes: float, options: dict) -> None:
    """Runs one method into `out` (in the calling process), a baseline with `options`."""
    shutil.rmtree(out, ignore_errors=True)
    if method in ("agent", "frozen"):
        from alphadev.config import load_config
        from alphadev.train import Trainer
        config = load_config(game, None, seed=seed, minutes=minutes)
        if method == "frozen":
            config = dataclasses.replace(config, ablation=dataclasses.replace(config.ablation, frozen_network=True))
        Trainer(config, out, quiet=True).train()
    else:
        from alphadev import baselines
        baselines.run(method, game, out, minutes=minutes, seed=seed, quiet=True, options=options)


def run_pinned(job: tuple, cores) -> None:
    """In a fresh process: takes a free core from the queue `cores`, runs `job`, gives it back."""
    core = cores.get()
    try:
        os.environ["XLA_FLAGS"] = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"  # before jax
        if hasattr(os, "sched_setaffinity"):
            os.sched_setaffinity(0, {core})
        run_one(*job)
        print(f"done: {job[1]} {job[2]} seed {job[3]}", flush=True)
    finally:
        cores.put(core)


def summary(out: Path, target: int) -> dict:
    """What one run directory says: times to first correct and to target, best, explored."""
    from alphadev.rundir import RunDir
    run = RunDir(out)
    m, best = run.metrics(), run.best()
    pairs = list(zip(m.get("elapsed_s", []), m.get("best_length", []), strict=True))
    first = next((t for t, n in pairs if n > 0), None)
    at_target = next((t for t, n in pairs if target and 0 < n <= target), None)
    explored = m["episodes"][-1] if "episodes" in m else (m["explored"][-1] if m.get("explored") else 0)
    return dict(first=first, target=at_target, best=best, explored=int(explored), curve=pairs)


def native_ratios(game: str, runs: dict, n_random: int, alphadev_file: str | None) -> dict:
    """{run name: (throughput ratio, latency ratio)} of verified best programs natively, to
    AlphaDev's kernel where `alphadev_file` gives one for the game, else to the first reference."""
    from alphadev.bench import BenchError, bench, report_text
    from alphadev.inline_asm import verified_kernels
    from alphadev.verify import verify
    theirs = []
    if alphadev_file:
        try:
            theirs = verified_kernels(alphadev_file, game, n_random=n_random)[0]
        except ValueError as e:  # the file has no kernel for this game (AlphaDev released none for the hash)
            print(f"{game}: ratios to the first reference: {e}")
    programs = []
    for name, s in runs.items():
        if s["best"] is None:
            continue
        check = verify(s["best"].program, game, n_random=n_random)
        if check.passed:
            programs.append((name, s["best"].program))
        else:
            print(f"{name}: not timed, verification failed: {check.first_failure}")
    if not programs:
        return {}
    try:
        report = bench(game, programs, alphadev=theirs)
    except BenchError as e:
        print(f"{game}: no native figures: {e}")
        return {}
    print(f"\n{report_text(report)}")
    ratio = lambda r: r.alphadev_ratio if theirs else r.ratio
    return {r.name: (ratio(r), ratio(l)) for r, l in zip(report.modes["throughput"], report.modes["latency"])}


def plot(game: str, runs: dict, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(7, 4))
    colours = {}
    for name, s in runs.items():
        method = name.split(" ")[0]
        points = [(t, n) for t, n in s["curve"] if n > 0]
        if points:
            colour = colours.setdefault(method, f"C{len(colours)}")
            ts, ns = zip(*points)
            ax.step(ts, ns, where="post", color=colour, label=method if method not in ax.get_legend_handles_labels()[1]
                    else None)
    ax.set(xscale="log", xlabel="seconds", ylabel="best length", title=f"{game}: best correct length against time")
    if ax.lines:
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def allowed_cores() -> list[int]:
    """The cores this process may run on (`taskset -c 1 python compare.py ...` keeps every run on
    core 1), in order."""
    if hasattr(os, "sched_getaffinity"):
        return sorted(os.sched_getaffinity(0))
    return list(range(os.cpu_count() or 1))


def method_options(parser, items: list[str]) -> dict:
    """{method: its options} from `METHOD.NAME=VALUE` items; a bad one is a one-line error."""
    from alphadev import baselines
    raw: dict = {}
    for item in items:
        method, dot, rest = item.partition(".")
        if not dot or method not in baselines.METHODS:
            parser.error(f"--set {item}: expected METHOD.NAME=VALUE for a baseline: {', '.join(baselines.METHODS)}")
        raw.setdefault(method, []).append(rest)
    try:
        return {m: baselines.parse_options(m, rest) for m, rest in raw.items()}
    except ValueError as e:
        parser.error(str(e))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("games", help="comma-separated game names")
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--jobs", type=int, default=1, help="runs at once, one pinned process each")
    parser.add_argument("--out", default="runs/compare")
    parser.add_argument("--random", type=int, default=100_000, help="random inputs when verifying each best")
    parser.add_argument("--summarise", action="store_true",
                        help="run nothing: verify, time and tabulate the runs already in OUT (e.g. after runs of "
                             "other methods into the same OUT)")
    parser.add_argument("--alphadev", metavar="FILE", help="DeepMind's sort_functions_test.cc: native ratios to "
                        "AlphaDev's kernels (as alphadev bench --alphadev)")
    parser.add_argument("--set", action="append", default=[], metavar="METHOD.NAME=VALUE",
                        help="a baseline's option, as alphadev search --set (e.g. astar.order=deep); repeatable")
    args = parser.parse_args()
    import games
    game_names, methods = args.games.split(","), args.methods.split(",")
    if unknown := set(methods) - set(METHODS):
        parser.error(f"--methods: unknown {', '.join(sorted(unknown))}; known: {', '.join(METHODS)}")
    if unknown := set(game_names) - set(games.names()):
        parser.error(f"unknown game(s) {', '.join(sorted(unknown))}; see alphadev games")
    seeds = [int(s) for s in args.seeds.split(",")]
    options = method_options(parser, args.set)
    root = Path(args.out)
    jobs = [(root / f"{g}-{m}-seed{s}", g, m, s, args.minutes, options.get(m, {}))
            for g in game_names for m in methods for s in seeds]
    if not args.summarise:
        context = multiprocessing.get_context("spawn")
        with context.Manager() as manager, context.Pool(max(args.jobs, 1), maxtasksperchild=1) as pool:
            cores, allowed = manager.Queue(), allowed_cores()
            for k in range(max(args.jobs, 1)):
                cores.put(allowed[k % len(allowed)])
            pool.starmap(run_pinned, [(job, cores) for job in jobs])
    elif missing := [str(job[0]) for job in jobs if not (job[0] / "run.json").exists()]:
        parser.error(f"--summarise: no run in {', '.join(missing)}")
    rows = []
    for g in game_names:
        target = games.make(g).task.target_length or 0
        runs = {f"{m} seed {s}": summary(root / f"{g}-{m}-seed{s}", target) for m in methods for s in seeds}
        ratios = native_ratios(g, runs, args.random, args.alphadev)
        plot(g, runs, root / f"{g}.png")
        for name, s in runs.items():
            m, _, seed = name.split(" ")
            fmt = lambda t: f"{t:.1f}" if t is not None else "-"
            rows.append((g, m, seed, fmt(s["first"]), fmt(s["target"]), s["best"].length if s["best"] else "-",
                         s["explored"], *(f"{x:.3f}" for x in ratios.get(name, (float("nan"),) * 2))))
    against = "AlphaDev's" if args.alphadev else "reference"
    print(f"\n| game | method | seed | s to first correct | s to target | best length | explored | "
          f"throughput vs {against} | latency vs {against} |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print("| " + " | ".join(str(x) for x in r) + " |")
    print(f"\nplots: {', '.join(str(root / f'{g}.png') for g in game_names)}")


if __name__ == "__main__":
    main()
