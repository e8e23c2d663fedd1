"""A baseline searcher: batched random legal rollouts, keeping the best program found.

    python experiments/random_search.py sort2 --batches 40 --out runs/random-sort2

No learning and no tree search: the floor any agent must beat, and a real run that fills a
run directory (records, best.json, metrics.csv) in the format the agent writes. Every new best
is confirmed on Unicorn before it is recorded. The notebook's fixture was made with
`python experiments/random_search.py sort2 --batches 60 --batch 64 --seed 0 --out notebooks/fixture/run`.
"""
from __future__ import annotations

import argparse
import time

import jax
import jax.numpy as jnp
import numpy as np

import games
import isa
from alphadev.results import Record
from alphadev.rundir import RunDir


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("game")
    parser.add_argument("--batches", type=int, default=40)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    game = games.make(args.game)
    run = RunDir(args.out)

    def episode(key):
        def body(state, key):
            logits = jnp.where(state.legal_action_mask, 0.0, -jnp.inf)
            action = jax.random.categorical(key, jnp.where(state.terminated, 0.0, logits)).astype(jnp.int32)
            nxt = game.step(state, action)
            return nxt, nxt.rewards
        final, rewards = jax.lax.scan(body, game.init(), jax.random.split(key, game.max_moves))
        return final, rewards.sum()

    play = jax.jit(jax.vmap(episode))
    key = jax.random.PRNGKey(args.seed)
    best_items, best_length, start = -1.0, None, time.time()
    for step in range(args.batches):
        key, sub = jax.random.split(key)
        finals, returns = jax.device_get(play(jax.random.split(sub, args.batch)))
        for b in np.argsort(-finals.items):
            state = jax.tree_util.tree_map(lambda x, b=b: x[b], finals)
            correct, length = bool(state.correct), int(state.length)
            # items is float32 in JAX: compare with a margin, or equal values look better.
            better = (correct and (best_length is None or length < best_length)) or \
                (best_length is None and float(state.items) > best_items + 1e-6)
            if not better:
                continue
            score = game.confirm(state)
            best_items = max(best_items, score.items)
            if correct:
                best_length = length
            program = game.program(state)
            run.add(Record.of(args.game, program, latency={"cycles": isa.latency.cycles(program),
                              "executed": score.executed}, seed=args.seed, source="random_search",
                              config={"batch": args.batch, "batches": args.batches}))
            print(f"step {step}: new best, correct={correct} items={score.items:.3f} length={length}", flush=True)
        run.log(step=step, episodes=(step + 1) * args.batch, elapsed_s=round(time.time() - start, 2),
                best_items=best_items, best_length=best_length or 0, mean_return=float(np.mean(returns)))
    print(f"best: items {best_items:.3f}, length {best_length}; {args.batches * args.batch} episodes in "
          f"{time.time() - start:.1f} s; run directory {args.out}")


if __name__ == "__main__":
    main()
