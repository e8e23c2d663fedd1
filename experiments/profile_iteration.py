"""Where one training iteration's time goes, part by part, with the shipped config.

    python experiments/profile_iteration.py sort5 [--iterations 3] [--config FILE]

Builds the game's `Trainer` (in a temporary run directory) and runs whole iterations the way
`Trainer._train` does, timing each part with its device work finished (`block_until_ready`):
self-play (the searches, and the archive's children harvest inside the same jitted call),
adding the episodes to the replay, adding the cells to the archive, looking at the finished
programs (model cycles, and handing any new best to the host-side checks: Unicorn, llvm-mca,
in the config's `check_workers` processes or, with 0, right there), the diagnostics when due,
the learner (sampling and re-observing a batch from the replay, then the update step), and
writing the records of the checks that came back.
The first iteration includes compilation and is reported on its own; the others are averaged.
Run it pinned to one core with XLA's threading off, as training runs:

    XLA_FLAGS="--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1" taskset -c 0 \\
        python experiments/profile_iteration.py sort5
"""
from __future__ import annotations

import argparse
import collections
import tempfile
import time

import jax
import numpy as np


def timed(parts: dict, name: str, fn, *args):
    t0 = time.perf_counter()
    out = jax.block_until_ready(fn(*args))
    parts[name] += time.perf_counter() - t0
    return out


def iteration(trainer) -> dict:
    """One iteration of `trainer`, as `Trainer._train` runs it; seconds per part."""
    parts = collections.defaultdict(float)
    cfg = trainer.config
    key, play_key = jax.random.split(trainer.state["key"])
    starts = trainer._starts()
    traj = timed(parts, "self-play (search + archive children)", trainer.play, trainer.state["params"], play_key, starts)
    timed(parts, "replay: add episodes", trainer.replay.add, traj)
    if trainer.archive is not None:
        timed(parts, "archive: add cells", lambda: (trainer.archive.add(traj.cells), trainer.archive.add(traj.children)))
    timed(parts, "programs: look at, hand new best to the checks", trainer._consider, traj)
    if trainer._diagnosing():
        timed(parts, "diagnostics", trainer._diagnose, traj)
    if not cfg.ablation.frozen_network:
        from alphadev import devices
        for _ in range(cfg.learner.steps_per_iteration):
            batch = timed(parts, "learner: sample + re-observe batch", lambda: devices.shard(
                trainer.replay.sample(cfg.learner.batch, cfg.learner.unroll), trainer.mesh))
            params, opt_state, *_ = timed(parts, "learner: update step", trainer.update, trainer.state["params"],
                                          trainer.state["opt_state"], batch)
            trainer.state.update(params=params, opt_state=opt_state)
    timed(parts, "programs: records of the checks come back", trainer._record_checked)
    trainer.state.update(key=key, counters=trainer.state["counters"] + np.array([1, 0, 0, 0]))
    return parts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("game")
    parser.add_argument("--iterations", type=int, default=3, help="iterations after the first (compiling) one")
    parser.add_argument("--config", help="a JSON config (default: the recipe and the game's shipped delta)")
    args = parser.parse_args()
    from alphadev.config import load_config
    from alphadev.train import Trainer
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as out:
        trainer = Trainer(load_config(args.game, args.config, target_length=0), out, quiet=True)
        built = time.perf_counter() - t0
        rows = [iteration(trainer) for _ in range(args.iterations + 1)]
        trainer.run.release()
    names = list(dict.fromkeys(k for r in rows for k in r))
    steady = {k: float(np.mean([r.get(k, 0.0) for r in rows[1:]])) for k in names} if args.iterations else {}
    total = sum(steady.values())
    print(f"{args.game}: trainer built in {built:.1f} s; selfplay_batch {trainer.config.selfplay_batch}, "
          f"{trainer.config.search.simulations} simulations, net dim {trainer.config.net.dim}")
    print(f"{'part':<50}{'first (compiles) s':>20}{'then s/iteration':>18}{'share':>8}")
    for k in names:
        share = f"{100 * steady[k] / total:.0f}%" if total else "-"
        print(f"{k:<50}{rows[0].get(k, 0.0):>20.2f}{steady.get(k, float('nan')):>18.2f}{share:>8}")
    print(f"{'one iteration':<50}{sum(rows[0].values()):>20.2f}{total:>18.2f}")


if __name__ == "__main__":
    main()
