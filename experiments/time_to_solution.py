"""Time to solution: train from scratch over several seeds and print one table.

    python experiments/time_to_solution.py sort3 [--seeds 0,1,2] [--planner exact] [--minutes 10]
                                                 [--agents learning,frozen] [--jobs 2]
                                                 [--config FILE] [--fresh]

Each seed runs `alphadev train` in-process, once per agent: `learning` (the config as it is)
and `frozen` (the same with `ablation.frozen_network`: the same search with the network as
initialised, the baseline learning must beat), into runs/tts-GAME-PLANNER-AGENT-seedS (delete
it or pass --fresh to start over: a rerun resumes). With --jobs N, N seeds run at once, each in its own
process pinned to one core with XLA's CPU threading off (on a CPU this beat one process on
all cores by about 40%; see docs/design.md). Columns: game, planner, seed, seconds to the
target length (or '-'), programs explored (episodes; search expansions = moves x
simulations), final best length, seconds run, and the network's last diagnostics (prior
agreement with the search, the correctness value's rank correlation, greedy policy correct);
then the median seconds to target of each agent.
"""
from __future__ import annotations

import argparse
import dataclasses
import math
import multiprocessing
import os
import shutil
import statistics
from pathlib import Path

AGENTS = ("learning", "frozen")
DIAGNOSTICS = ("prior_agrees", "correctness_value_rank", "greedy_correct")


def run_pinned(args: argparse.Namespace, seed: int, agent: str, cores) -> tuple:
    """In a fresh process: takes a free core from the queue `cores`, runs, gives it back."""
    core = cores.get()
    try:
        # Before jax is imported in this process.
        os.environ["XLA_FLAGS"] = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
        if hasattr(os, "sched_setaffinity"):
            os.sched_setaffinity(0, {core})
        return run_seed(args, seed, agent)
    finally:
        cores.put(core)


def _last(values) -> str:
    finite = [v for v in values if not math.isnan(v)]
    return f"{finite[-1]:.2f}" if finite else "-"


def run_seed(args: argparse.Namespace, seed: int, agent: str) -> tuple:
    from alphadev.config import load_config, resume_config
    from alphadev.train import Trainer

    out = Path(f"runs/tts-{args.game}-{args.planner}-{agent}-seed{seed}")
    if args.fresh:
        shutil.rmtree(out, ignore_errors=True)
    overrides = dict(seed=seed, minutes=args.minutes, planner=args.planner)
    if (out / "config.json").exists():  # a rerun resumes with the run's own config
        config = resume_config(out, args.game, args.config, **overrides)
    else:
        config = load_config(args.game, args.config, **overrides)
        if agent == "frozen":
            config = dataclasses.replace(config, ablation=dataclasses.replace(config.ablation, frozen_network=True))
    trainer = Trainer(config, out, quiet=True)
    best = trainer.train()
    metrics = trainer.run.metrics()
    elapsed = metrics["elapsed_s"][-1] if metrics else 0.0
    solved_at = next((t for t, length in zip(metrics.get("elapsed_s", []), metrics.get("best_length", []), strict=True)
                      if config.target_length and 0 < length <= config.target_length), None)
    counters = trainer.state["counters"]
    row = (args.game, args.planner, agent, seed, f"{solved_at:.0f}" if solved_at is not None else "-",
           int(counters[1]), int(counters[2]), best.length if best else "-", f"{elapsed:.0f}",
           *(_last(metrics.get(k, [])) for k in DIAGNOSTICS))
    print(f"{agent} seed {seed}: best {row[7]}, {row[8]} s", flush=True)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("game")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--planner", default="exact", choices=["exact", "muzero"])
    parser.add_argument("--minutes", type=float)
    parser.add_argument("--config", help="a JSON config (default: the recipe and the game's shipped delta)")
    parser.add_argument("--agents", default=",".join(AGENTS), help="learning, frozen or both (comma-separated)")
    parser.add_argument("--jobs", type=int, default=1, help="seeds run at once, one pinned process each")
    parser.add_argument("--fresh", action="store_true", help="delete earlier runs of these seeds first")
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    agents = args.agents.split(",")
    if unknown := set(agents) - set(AGENTS):
        parser.error(f"--agents: unknown {', '.join(sorted(unknown))}; known: {', '.join(AGENTS)}")
    runs = [(s, a) for s in seeds for a in agents]
    if args.jobs > 1:
        context = multiprocessing.get_context("spawn")
        with context.Manager() as manager, context.Pool(args.jobs, maxtasksperchild=1) as pool:
            cores = manager.Queue()
            for core in range(args.jobs):
                cores.put(core % (os.cpu_count() or 1))
            rows = pool.starmap(run_pinned, [(args, s, a, cores) for s, a in runs])
    else:
        rows = [run_seed(args, s, a) for s, a in runs]
    print(f"\n{'game':<10}{'planner':<9}{'agent':<10}{'seed':>5}{'s to target':>13}{'episodes':>10}{'expansions':>12}"
          f"{'best length':>13}{'ran s':>8}{'prior agrees':>14}{'value rank':>12}{'greedy ok':>11}")
    for r in rows:
        print(f"{r[0]:<10}{r[1]:<9}{r[2]:<10}{r[3]:>5}{r[4]:>13}{r[5]:>10}{r[6]:>12}{str(r[7]):>13}{r[8]:>8}"
              f"{r[9]:>14}{r[10]:>12}{r[11]:>11}")
    for agent in agents:  # a seed that missed the target counts as its whole run (a lower bound)
        times = [float(r[4] if r[4] != "-" else r[8]) for r in rows if r[2] == agent]
        missed = sum(r[4] == "-" for r in rows if r[2] == agent)
        print(f"{agent}: median seconds to target {statistics.median(times):.0f}"
              + (f" ({missed} of {len(times)} missed it: their whole run counted)" if missed else ""))


if __name__ == "__main__":
    main()
