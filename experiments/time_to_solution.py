"""Time to solution: train from scratch over several seeds and print one table.

    python experiments/time_to_solution.py sort3 [--seeds 0,1,2] [--planner exact] [--minutes 10]

Each seed runs `alphadev train` in-process into runs/tts-GAME-PLANNER-seedS (delete it to start
over: a rerun resumes). Columns: game, planner, seed, seconds to the target length (or '-'),
programs explored (episodes; search expansions = moves x simulations), final best length.
"""
from __future__ import annotations

import argparse
import shutil

from alphadev.train import Trainer, load_config


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("game")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--planner", default="exact", choices=["exact", "muzero"])
    parser.add_argument("--minutes", type=float)
    parser.add_argument("--fresh", action="store_true", help="delete earlier runs of these seeds first")
    args = parser.parse_args()
    rows = []
    for seed in (int(s) for s in args.seeds.split(",")):
        config = load_config(args.game, seed=seed, minutes=args.minutes, planner=args.planner)
        out = f"runs/tts-{args.game}-{args.planner}-seed{seed}"
        if args.fresh:
            shutil.rmtree(out, ignore_errors=True)
        trainer = Trainer(config, out, quiet=True)
        best = trainer.train()
        metrics = trainer.run.metrics()
        elapsed = metrics["elapsed_s"][-1] if metrics else 0.0
        solved_at = next((t for t, length in zip(metrics.get("elapsed_s", []), metrics.get("best_length", []))
                          if config.target_length and 0 < length <= config.target_length), None)
        counters = trainer.state["counters"]
        rows.append((args.game, args.planner, seed, f"{solved_at:.0f}" if solved_at is not None else "-",
                     int(counters[1]), int(counters[2]), best.length if best else "-", f"{elapsed:.0f}"))
        print(f"seed {seed}: best {rows[-1][6]}, {rows[-1][7]} s", flush=True)
    print(f"\n{'game':<10}{'planner':<9}{'seed':>5}{'s to target':>13}{'episodes':>10}{'expansions':>12}"
          f"{'best length':>13}{'ran s':>8}")
    for r in rows:
        print(f"{r[0]:<10}{r[1]:<9}{r[2]:>5}{r[3]:>13}{r[4]:>10}{r[5]:>12}{str(r[6]):>13}{r[7]:>8}")


if __name__ == "__main__":
    main()
