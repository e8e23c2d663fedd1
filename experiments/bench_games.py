"""Batched random-rollout moves per second for every game on this machine.

    python experiments/bench_games.py [--batch 64] [--games sort3,varsort3]

Each game plays `batch` episodes at once (`jax.vmap` of `game.step` inside one jitted
`lax.scan` over the episode), choosing uniformly among legal moves. Moves per second count
every move of every episode (terminated ones included, as they cost the same); compile time is
excluded and printed apart. One run, one table.
"""
from __future__ import annotations

import argparse
import time

import jax
import jax.numpy as jnp

import games


def rollout_fn(game, batch: int):
    def episode(key):
        def body(state, key):
            logits = jnp.where(state.legal_action_mask, 0.0, -jnp.inf)
            action = jax.random.categorical(key, jnp.where(state.terminated, 0.0, logits)).astype(jnp.int32)
            return game.step(state, action), state.terminated
        final, _ = jax.lax.scan(body, game.init(), jax.random.split(key, game.max_moves))
        return final.items
    return jax.jit(lambda key: jax.vmap(episode)(jax.random.split(key, batch)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--games", default=",".join(games.names()))
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(f"{'game':<12}{'actions':>8}{'inputs':>8}{'moves/episode':>15}{'compile s':>11}{'moves/s':>12}")
    for name in args.games.split(","):
        game = games.make(name)
        run = rollout_fn(game, args.batch)
        start = time.perf_counter()
        jax.block_until_ready(run(jax.random.PRNGKey(0)))
        compiled = time.perf_counter() - start
        best = float("inf")
        for r in range(args.repeats):
            start = time.perf_counter()
            jax.block_until_ready(run(jax.random.PRNGKey(r + 1)))
            best = min(best, time.perf_counter() - start)
        moves = args.batch * game.max_moves
        print(f"{name:<12}{game.num_actions:>8}{game.num_inputs:>8}{game.max_moves:>15}{compiled:>11.1f}"
              f"{moves / best:>12,.0f}", flush=True)


if __name__ == "__main__":
    main()
