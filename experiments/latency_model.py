"""Validates the cycle model (`isa.latency.model`, the games' `latency="cycles"`) against llvm-mca.

    taskset -c 1 python experiments/latency_model.py --programs 10000 --seed 0

Draws, for each of the sort3, sort4, varsort3 and hash9to16 games, an equal share of random
legal rollouts (with the `end_lost` cut-off off, which otherwise ends most random episodes
within a few moves) and of random instruction sequences from the game's vocabulary (legal or
not, up to its length limit), and prints the Spearman rank correlation of the model's cycles with llvm-mca's total
cycles for one call: over all programs, per game, and within programs of equal length (where
instruction count says nothing). llvm-mca reads a program as straight-line code, so a branchy
program is compared path by path: the model's mean path cost (its cycles without the expected
misprediction cost, which llvm-mca does not model) against the mean over the task's inputs of
llvm-mca's cycles for the instructions each input executed. llvm-mca runs on many programs at
once, one code region each. Then prints the model's cycles and llvm-mca's for the reference
kernels of sort3, sort4, sort5 and hash9to16, in the model's order.
"""
from __future__ import annotations

import argparse
import time

import jax
import numpy as np
from scipy import stats

import games
import isa
from isa import latency
from isa.schedule import mca_binary
from isa.unicorn_backend import paths
from games.rollouts import random_episodes

GAMES = ("sort3", "sort4", "varsort3", "hash9to16")


def random_programs(game, n: int, seed: int) -> list[isa.Program]:
    """`n` programs from random legal rollouts of `game` (a uniform move among the legal ones)."""
    finals = jax.device_get(random_episodes(game)(jax.random.split(jax.random.PRNGKey(seed), n))[0])
    return [game.program(jax.tree_util.tree_map(lambda x, b=b: x[b], finals)) for b in range(n)]


def random_sequences(task, n: int, seed: int) -> list[isa.Program]:
    """`n` straight-line programs of the task's vocabulary instructions drawn uniformly, each of a
    length drawn uniformly from 1 to the game's length limit (registers may be read before they
    are written: the hardware and llvm-mca do not care)."""
    rng = np.random.default_rng(seed)
    items = [item for item in task.vocabulary if isinstance(item, isa.Instruction)]
    return [isa.Program(tuple(items[i] for i in rng.integers(0, len(items), rng.integers(1, task.config.max_length + 1))))
            for _ in range(n)]


def mca_cycles(programs: list[isa.Program], mcpu: str, batch: int = 200) -> np.ndarray:
    """llvm-mca's total cycles for one call of each (straight-line) program, `batch` programs
    per llvm-mca run, one code region each."""
    import subprocess
    out = []
    for start in range(0, len(programs), batch):
        chunk = programs[start:start + batch]
        text = ".intel_syntax noprefix\n" + "".join(
            f"# LLVM-MCA-BEGIN p{k}\n{_straight_text(p)}# LLVM-MCA-END\n" for k, p in enumerate(chunk))
        run = subprocess.run([mca_binary(), f"-mcpu={mcpu}", "-iterations=1", "-mtriple=x86_64-unknown-linux-gnu",
                              "-instruction-info=false", "-resource-pressure=false"],
                             input=text, capture_output=True, text=True, check=True)
        cycles = [int(line.split()[-1]) for line in run.stdout.splitlines() if line.startswith("Total Cycles:")]
        assert len(cycles) == len(chunk), f"llvm-mca reported {len(cycles)} regions for {len(chunk)}"
        out += cycles
    return np.array(out, np.float64)


def _straight_text(program: isa.Program) -> str:
    """The program as llvm-mca reads it: in order, every jump to one label past the end."""
    lines = [f"{ins.mnemonic} .Lend{id(program)}" if ins.target is not None else isa.format_instruction(ins)
             for ins in program]
    return "\n".join(lines) + f"\n.Lend{id(program)}:\n"


def traces(program: isa.Program, runs) -> list[isa.Program]:
    """The instructions each input executes (`runs`: `isa.unicorn_backend.paths`), as
    straight-line programs (jumps kept, to the end)."""
    out = []
    for trace, _ in runs:
        executed = [program[i] for i in trace]
        out.append(isa.Program(tuple(isa.Instruction(i.mnemonic, (isa.Target(len(executed)),))
                                     if i.target is not None else i for i in executed)))
    return out


def compare(programs: list[isa.Program], task, mcpu: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(model cycles without mispredictions, llvm-mca cycles, lengths) of non-empty programs."""
    programs = [p for p in programs if len(p)]
    branchy = any(isinstance(item, games.actions.Jump) for item in task.vocabulary)
    if not branchy:
        model = np.array([latency.model(p, mcpu).cycles for p in programs])
        return model, mca_cycles(programs, mcpu), np.array([len(p) for p in programs])
    model, per_program = [], []
    for p in programs:
        runs = paths(p, task.inputs)
        m = latency.model_of_paths(p, runs, mcpu)
        model.append(m.cycles - m.mispredict)
        per_program.append(traces(p, runs))
    distinct = sorted({t for ts in per_program for t in ts if len(t)}, key=isa.to_text)
    figure = dict(zip(distinct, mca_cycles(distinct, mcpu)))
    mca = np.array([np.mean([figure.get(t, 0.0) for t in ts]) for ts in per_program])
    return np.array(model), mca, np.array([len(p) for p in programs])


def within_lengths(model: np.ndarray, mca: np.ndarray, lengths: np.ndarray) -> float:
    """Spearman's rho within groups of equal length (ranks taken per group), pooled over groups
    of at least 10 programs, weighted by size."""
    rhos, weights = [], []
    for n in np.unique(lengths):
        pick = lengths == n
        if pick.sum() >= 10 and np.ptp(mca[pick]) > 0 and np.ptp(model[pick]) > 0:
            rhos.append(stats.spearmanr(model[pick], mca[pick]).statistic)
            weights.append(pick.sum())
    return float(np.average(rhos, weights=weights)) if rhos else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--programs", type=int, default=10_000, help="in all, an equal share per game")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--mcpu", default="skylake")
    args = parser.parse_args()
    start = time.time()
    share = args.programs // (2 * len(GAMES))
    all_model, all_mca = [], []
    print(f"{'game':10} {'programs from':24} {'n':>5} {'rho':>6} {'rho at equal length':>20}")
    for k, name in enumerate(GAMES):
        game = games.make(name, rules={"end_lost": False})
        sources = {"random legal rollouts": random_programs(game, share, args.seed + k),
                   "random sequences": random_sequences(game.task, share, args.seed + k)}
        for source, programs in sources.items():
            model, mca, lengths = compare(programs, game.task, args.mcpu)
            all_model.append(model)
            all_mca.append(mca)
            rho = stats.spearmanr(model, mca).statistic
            print(f"{name:10} {source:24} {len(model):5d} {rho:6.3f} {within_lengths(model, mca, lengths):20.3f}")
    model, mca = np.concatenate(all_model), np.concatenate(all_mca)
    print(f"{'all':35} {len(model):5d} {stats.spearmanr(model, mca).statistic:6.3f}")
    print()
    print("reference kernels: model cycles, llvm-mca cycles (sorted by the model)")
    rows = []
    for name in ("sort3", "sort4", "sort5", "hash9to16"):
        for ref in games.make(name).task.references:
            rows.append((latency.model(ref.program, args.mcpu).cycles, latency.mca(ref.program, args.mcpu).cycles,
                         f"{name}: {ref.label} ({len(ref.program)} instructions)"))
    for model_cycles, mca_cycles_, label in sorted(rows):
        print(f"  {model_cycles:6.2f} {mca_cycles_:5d}  {label}")
    print(f"\n{time.time() - start:.0f} s")


if __name__ == "__main__":
    main()
