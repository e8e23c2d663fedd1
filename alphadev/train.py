"""The training loop: self-play, replay, learning, records, checkpoints.

Each iteration plays `selfplay_batch` episodes with the search, adds them to the replay, takes
`steps_per_iteration` learner steps, and looks at every finished correct program: one shorter
than the best so far (for equal length, fewer llvm-mca cycles) is confirmed on Unicorn
(`game.confirm`, which raises if JAX and Unicorn disagree) and written as a record. The run stops
when a program of `target_length` is recorded, or when `minutes` are spent. Checkpoints (orbax)
hold the parameters, optimiser state, counters and key, saved beside the archive and the replay
buffer; the same command resumes from the last one, and records already written stay.
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Optional

import jax
import numpy as np
import orbax.checkpoint as ocp

import games
import isa
from alphadev import networks as N
from alphadev.archive import Archive
from alphadev.config import TrainConfig
from alphadev.learner import make_update
from alphadev.replay import Replay, observe_moves
from alphadev.results import Record
from alphadev.rundir import RunDir
from alphadev.search import Search
from alphadev.selfplay import make_prefix_values, make_selfplay

class Trainer:
    def __init__(self, config: TrainConfig, out: str | Path, *, quiet: bool = False):
        self.config, self.quiet = config, quiet
        self.run = RunDir(out)
        self.game = games.make(config.game, **config.game_config)
        self.net, self.observer = N.make(self.game, config.net)
        ablation = config.ablation
        self.search = Search(self.game, self.net, self.observer, net_config=config.net, config=config.search,
                             policy=ablation.search_policy, dirichlet_alpha=ablation.dirichlet_alpha,
                             dirichlet_fraction=ablation.dirichlet_fraction)
        self.play = make_selfplay(self.game, self.search, config.selfplay_batch,
                                  temperature=ablation.temperature, epsilon=ablation.epsilon,
                                  head_values=ablation.td_steps > 0, harvest=config.archive_width > 0)
        self.update, tx = make_update(self.net, config.net, config.learner)
        key = jax.random.PRNGKey(config.seed)
        params = N.init(self.net, self.observer, self.game, key)
        self.state = dict(params=params, opt_state=tx.init(params), key=key,
                          counters=np.zeros(4, np.int64), elapsed=np.zeros(1, np.float64))
        # counters: iteration, episodes, search expansions, moves
        self.replay = Replay(config.replay_episodes, observe_moves(self.game, self.observer),
                             td_steps=ablation.td_steps, max_backup=ablation.max_backup, seed=config.seed)
        self.ckpt = ocp.CheckpointManager(Path(out).resolve() / "checkpoints",
                                          options=ocp.CheckpointManagerOptions(max_to_keep=2, create=True))
        self.archive, self.prefix_values = None, make_prefix_values(self.game, self.search)
        if config.archive_width:
            self.archive = Archive(config.archive_width, self.game.max_moves,
                                   value_weight=config.archive_value_weight, seed=config.seed)
        self.archive_path, self.replay_path = Path(out) / "archive.npz", Path(out) / "replay.npz"
        self.best = self.run.best()
        (Path(out) / "config.json").write_text(json.dumps(config.to_dict(), indent=2) + "\n")

    # -- checkpoints ------------------------------------------------------------------------

    def restore(self) -> bool:
        step = self.ckpt.latest_step()
        if step is None:
            return False
        self.state = self.ckpt.restore(step, args=ocp.args.StandardRestore(self.state))
        if self.archive is not None and self.archive_path.exists():
            self.archive.load(self.archive_path)
        if self.replay_path.exists():
            self.replay.load(self.replay_path)
        return True

    def save(self) -> None:
        if self.ckpt.latest_step() == self.iteration:
            return  # saved at this iteration already
        if self.archive is not None:
            self.archive.save(self.archive_path)
        self.replay.save(self.replay_path)
        self.ckpt.save(self.iteration, args=ocp.args.StandardSave(self.state), force=True)
        self.ckpt.wait_until_finished()

    # -- the loop ---------------------------------------------------------------------------

    @property
    def iteration(self) -> int:
        return int(self.state["counters"][0])

    def _better(self, length: int) -> bool:
        return self.best is None or length < self.best.length

    def _consider(self, traj) -> None:
        final = jax.device_get(traj.final)
        order = np.argsort(np.asarray(final.length))
        for b in order:
            if not final.correct[b] or not self._better(int(final.length[b])):
                continue
            state = jax.tree_util.tree_map(lambda x, b=b: x[b], final)
            score = self.game.confirm(state)  # Unicorn; raises MachineDisagreement on a mismatch
            program = self.game.program(state)
            cycles = isa.latency.cycles(program) if score.correct else None
            record = Record.of(self.config.game, program, seed=self.config.seed, config=self.config.to_dict(),
                               source=f"alphadev train ({self.config.search.planner})",
                               latency={"cycles": cycles, "executed": score.executed})
            self.run.add(record)
            self.best = record
            self._print(f"new best: {record.length} instructions, {cycles} cycles (confirmed on Unicorn)", line=True)

    def _starts(self):
        """Where this iteration's episodes start: [B, max_moves] moves (-1 past each prefix), or
        None for the empty program throughout."""
        cfg = self.config
        n = round(cfg.archive_fraction * cfg.selfplay_batch) if self.archive is not None and len(self.archive) else 0
        if n == 0:
            return None
        starts = np.full((cfg.selfplay_batch, self.game.max_moves), -1, np.int32)
        starts[:n] = self.archive.sample(n)[0]
        return starts

    def _print(self, text: str, line: bool = False) -> None:
        if self.quiet:
            return
        if sys.stdout.isatty() and not line:
            print("\r" + text.ljust(110), end="", flush=True)
        else:
            print(("\n" if sys.stdout.isatty() else "") + text, flush=True)

    def done(self) -> bool:
        target = self.config.target_length
        return bool(target and self.best is not None and self.best.length <= target)

    def train(self, *, max_iterations: Optional[int] = None) -> Optional[Record]:
        """Runs until the target is reached, `minutes` are spent (counting earlier sessions of a
        resumed run) or `max_iterations` more iterations ran. Returns the best record."""
        cfg = self.config
        resumed = self.restore()
        if resumed:
            self._print(f"resumed {self.run.path} at iteration {self.iteration}", line=True)
        start, before = time.time(), float(self.state["elapsed"][0])
        ran = 0
        while not self.done() and before + time.time() - start < cfg.minutes * 60:
            if max_iterations is not None and ran >= max_iterations:
                break
            t0 = time.time()
            key, play_key = jax.random.split(self.state["key"])
            starts = self._starts()
            traj = self.play(self.state["params"], play_key, starts)
            self.replay.add(traj)
            if self.archive is not None:
                self.archive.add(traj.cells)
                self.archive.add(traj.children)
            self._consider(traj)
            losses = []
            for _ in range(cfg.learner.steps_per_iteration):
                batch = self.replay.sample(cfg.learner.batch, cfg.learner.unroll)
                params, opt_state, loss, _ = self.update(self.state["params"], self.state["opt_state"], batch)
                self.state.update(params=params, opt_state=opt_state)
                losses.append(float(loss))
            moves = int(np.asarray(traj.valid).sum())
            counters = self.state["counters"] + np.array([1, cfg.selfplay_batch, moves * cfg.search.simulations, moves])
            elapsed = before + time.time() - start
            self.state.update(key=key, counters=counters, elapsed=np.array([elapsed]))
            ran += 1
            final = jax.device_get(traj.final)
            rate = moves / max(time.time() - t0, 1e-9)
            best_len = self.best.length if self.best else 0
            if self.iteration % cfg.log_every == 0:
                self.run.log(iteration=self.iteration, episodes=int(counters[1]), expansions=int(counters[2]),
                             elapsed_s=round(elapsed, 2), loss=round(float(np.mean(losses)), 5),
                             mean_items=round(float(np.mean(final.items)), 5), best_items=round(float(np.max(final.items)), 5),
                             solved=int(np.sum(final.correct)), best_length=best_len, moves_per_s=round(rate, 1),
                             archive=len(self.archive) if self.archive is not None else 0)
            self._print(f"[{cfg.game} {cfg.search.planner}] it {self.iteration} | {rate:,.0f} moves/s | "
                        f"best length {best_len or '-'} | best items {float(np.max(final.items)):.3f} | "
                        f"solved {int(np.sum(final.correct))}/{cfg.selfplay_batch} | loss {np.mean(losses):.3f} | "
                        f"{f'archive {len(self.archive)} | ' if self.archive is not None else ''}"
                        f"{elapsed:,.0f} s")
            rerank = cfg.ablation.archive_rerank_every
            if self.archive is not None and rerank and self.iteration % rerank == 0:
                self.archive.rerank(lambda moves: self.prefix_values(self.state["params"], moves))
            if self.iteration % cfg.checkpoint_every == 0:
                self.save()
        self.save()
        if not self.quiet and sys.stdout.isatty():
            print()
        return self.best
