"""The training loop: self-play, replay, learning, records, checkpoints.

Each iteration plays `selfplay_batch` episodes with the search, adds them to the replay, takes
`steps_per_iteration` learner steps, and looks at every finished correct program: one shorter
than the best so far goes to the host-side checks (checks.py: confirmed on Unicorn, which raises
if JAX and Unicorn disagree, and timed by llvm-mca) in `check_workers` processes off the loop's
path, and is written as a record, with the cycle model's cycles, once they come back (at the
end of an iteration, in the order found; a run waits for those pending before it ends). A
program counts as the best from the moment it is handed over, so that a worse one found later
is never recorded after it. Every distinct correct program at most as long as the best is kept
in candidates.jsonl (for `alphadev rerank`) before its checks start; a resumed run checks again
those better than its best record (checks a kill cut off). The run stops when a program of
`target_length` is found (and recorded), or when `minutes` are spent; with `after_target`
"latency" the target starts a second phase instead (AlphaDev's) that lasts until `minutes`, and
such a run also records a program as long as the best with fewer model cycles.
Checkpoints (orbax) hold the parameters, optimiser state, counters and key, saved beside the
archive and the replay buffer, every `checkpoint_every` iterations and at least every
`checkpoint_seconds`; the same command resumes from the last one, and records already written stay.

Each logged iteration is a row of metrics.csv and the same scalars in TensorBoard event files
(DIR/tensorboard): the search's figures, the loss and its parts, the correct programs found
from archive cells and from the empty program, and every `diagnose_every` iterations what the
network has learned (alphadev/diagnostics.py: its prior and values on the fresh episodes before
the learner sees them, and the greedy policy alone). `ablation.frozen_network` skips the
learner: the same search with the network as initialised.

The run directory (`rundir.py`) is claimed before anything is written: another run's directory or
a second writer is a one-line error. A resumed run drops the metrics rows logged after its
checkpoint (they are logged again). A newest checkpoint that does not restore is deleted, with a
warning, for the one before it. SIGINT and SIGTERM end the current iteration, save a checkpoint
and raise `Interrupted` (a second SIGINT stops at once).
"""
from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Optional

import jax
import numpy as np
import orbax.checkpoint as ocp

import games
import isa
from alphadev import devices, distributed
from alphadev import networks as N
from alphadev.archive import Archive
from alphadev.checks import Checks
from alphadev.config import TrainConfig
from alphadev.diagnostics import GREEDY_NAMES, Probe, make_greedy
from alphadev.learner import make_update
from alphadev.replay import Replay, observe_moves, path_rewards
from alphadev.results import Record, now
from alphadev.rundir import RunDir, RunDirError, one_line, warn, write_whole
from alphadev.search import Search
from alphadev.selfplay import make_prefix_values, make_selfplay
from alphadev.tensorboard import Board

LOSS_PARTS = ("policy", "value", "reward")
CHECKPOINT_SECONDS = 180.0  # the most training a kill loses, however long an iteration takes


class Interrupted(Exception):
    """Training stopped by a signal after a whole iteration, with a checkpoint saved.

    Attributes:
      signum: the signal; exit_code: 128 + signum, what a shell reports for it.
    """

    def __init__(self, signum: int, iteration: int):
        self.signum, self.exit_code = signum, 128 + signum
        super().__init__(f"stopped by {signal.Signals(signum).name} after iteration {iteration}, checkpoint saved; "
                         "the same command resumes")


class Trainer:
    """A training run in a run directory.

    Args:
      config: the run's `TrainConfig`.
      out: its run directory, claimed here (`RunDir.claim`) before anything is written.
      quiet: print nothing.
      checkpoint_seconds: a checkpoint is taken at least this often (besides every
        `config.checkpoint_every` iterations).
    """

    def __init__(self, config: TrainConfig, out: str | Path, *, quiet: bool = False,
                 checkpoint_seconds: float = CHECKPOINT_SECONDS):
        self.config, self.quiet, self.checkpoint_seconds = config, quiet, checkpoint_seconds
        self.mesh = devices.make_mesh()  # a batch the devices cannot split is refused before anything is written
        # Each process splits its own share of a batch over its own devices.
        devices.check_divides(jax.local_device_count(), selfplay_batch=config.selfplay_batch,
                              **{"learner.batch": config.learner.batch})
        self.primary, self.processes = distributed.is_primary(), jax.process_count()
        self.quiet = quiet or not self.primary
        self.run = RunDir(out)
        if self.primary:
            self.run.claim(config.to_dict())
        self.game = games.make(config.game, **config.game_config)
        self.net, self.observer = N.make(self.game, config.net)
        ablation = config.ablation
        self.search = Search(self.game, self.net, self.observer, net_config=config.net, config=config.search,
                             policy=ablation.search_policy, dirichlet_alpha=ablation.dirichlet_alpha,
                             dirichlet_fraction=ablation.dirichlet_fraction)
        self.play = make_selfplay(self.game, self.search, config.selfplay_batch,
                                  temperature=ablation.temperature, epsilon=ablation.epsilon,
                                  head_values=ablation.td_steps > 0, harvest=config.archive_width > 0,
                                  mesh=self.mesh)
        self.update, tx = make_update(self.net, config.net, config.learner)
        key = jax.random.PRNGKey(config.seed)
        params = N.init(self.net, self.observer, self.game, key)
        # Replicated on every device, so that a restored checkpoint comes back the same way.
        self.state = devices.replicate(dict(params=params, opt_state=tx.init(params), key=key,
                                            counters=np.zeros(4, np.int64), elapsed=np.zeros(1, np.float64)), self.mesh)
        # counters: iteration, episodes, search expansions, moves
        self.replay = Replay(config.replay_episodes, observe_moves(self.game, self.observer),
                             td_steps=ablation.td_steps, max_backup=ablation.max_backup,
                             seed=distributed.process_seed(config.seed))
        self.path_rewards = path_rewards(self.game) if ablation.replay_solutions else None
        # Orbax writes a step in a temporary directory and renames it when whole; a kill leaves the
        # temporary one, removed here.
        options = ocp.CheckpointManagerOptions(max_to_keep=2, create=True, cleanup_tmp_directories=True)
        self.ckpt = ocp.CheckpointManager(Path(out).resolve() / "checkpoints", options=options)
        self.archive, self.prefix_values = None, make_prefix_values(self.game, self.search)
        if config.archive_width:
            self.archive = Archive(config.archive_width, self.game.max_moves,
                                   value_weight=config.archive_value_weight, seed=distributed.process_seed(config.seed))
        self.archive_path, self.replay_path = Path(out) / "archive.npz", Path(out) / "replay.npz"
        self.best = self.run.best()  # the best record written
        # (length, model cycles) of the best program handed to the checks: the best record, or
        # a better program whose checks are pending. What `_better` and `done` go by.
        self.claimed = None if self.best is None else (self.best.length, self.best.latency.get("model_cycles"))
        self.checks = Checks(config.game, config.game_config, workers=config.check_workers)
        # text -> model cycles of every correct program kept (at most as long as the best then)
        self.candidates = {c["text"]: c["model_cycles"] for c in self.run.candidates()}
        if self.primary:
            write_whole(Path(out) / "config.json", json.dumps(config.to_dict(), indent=2) + "\n")
        self._saved_at, self._signal, self._mca_warned = time.time(), None, False
        self.probe = Probe(self.game, self.net, self.observer, config.net, seed=config.seed)
        self.greedy = make_greedy(self.game, self.net, self.observer)
        self.diagnostic_names = (*self.probe.names, *GREEDY_NAMES)
        self.board = None  # TensorBoard's writer, opened by train() once it knows where it resumes

    # -- checkpoints ------------------------------------------------------------------------

    def restore(self) -> bool:
        """Restores the newest checkpoint that restores (a newer one that does not is deleted,
        with a warning), then the archive and replay buffer saved beside it.

        Returns:
          Whether there was a checkpoint.
        Raises:
          RunDirError: no checkpoint restores; ValueError: an unreadable archive or replay file.
        """
        steps = sorted(self.ckpt.all_steps(), reverse=True)
        if not steps:
            return False
        failures = []
        for step in steps:
            try:
                self.state = self.ckpt.restore(step, args=ocp.args.StandardRestore(self.state))
                break
            except Exception as e:  # any damage to the files, whatever layer of orbax notices it
                failures.append(one_line(e)[:200])
        else:
            raise RunDirError(f"{self.ckpt.directory}: no checkpoint restores (step {steps[0]}: {failures[0]}); "
                              "delete that directory to train again from the start (records and best.json are kept)")
        for bad in steps[: len(failures)]:
            self.ckpt.delete(bad)  # so that the next save, at a lower step, is the newest
        if failures:
            warn(f"{self.ckpt.directory}/{steps[0]} does not restore ({failures[0]}); resuming from step {step} "
                 f"and deleting step{'s' * (len(failures) > 1)} {', '.join(map(str, steps[: len(failures)]))}")
        if self.archive is not None and self.archive_path.exists() and self.primary:
            self.archive.load(self.archive_path)
        if self.replay_path.exists() and self.primary:
            self.replay.load(self.replay_path)
        return True

    def save(self) -> None:
        if self.ckpt.latest_step() == self.iteration:
            return  # saved at this iteration already
        if self.archive is not None and self.primary:
            self.archive.save(self.archive_path)
        if self.primary:
            self.replay.save(self.replay_path)
        self.ckpt.save(self.iteration, args=ocp.args.StandardSave(self.state), force=True)
        self.ckpt.wait_until_finished()
        self._saved_at = time.time()

    # -- the loop ---------------------------------------------------------------------------

    @property
    def iteration(self) -> int:
        return int(self.state["counters"][0])

    def _better(self, length: int, cycles: Optional[float] = None) -> bool:
        """Shorter than the best program so far (`claimed`); or, with `after_target` "latency",
        as long and fewer model cycles (`cycles` None: not known yet, so possibly). Below 1e-4
        cycles is no difference: candidates.jsonl keeps them to 4 decimals."""
        if self.claimed is None or length < self.claimed[0]:
            return True
        if self.config.after_target != "latency" or length > self.claimed[0]:
            return False
        best = self.claimed[1]
        return cycles is None or best is None or cycles < best - 1e-4

    def _consider(self, traj) -> None:
        final = devices.gather(traj.final)  # every process's episodes: the primary records them
        if not self.primary:
            return
        order = np.argsort(np.asarray(final.length), kind="stable")
        for b in order:
            if not final.correct[b] or (self.claimed is not None and int(final.length[b]) > self.claimed[0]):
                continue
            state = jax.tree_util.tree_map(lambda x, b=b: x[b], final)
            program = self.game.program(state)
            model = self._keep_candidate(program)
            if self._better(len(program), model):
                self._submit(program, model, correct=bool(state.correct), items=float(state.items))

    def _submit(self, program, model: float, *, correct: bool, items: float) -> None:
        """Hands a better program and the JAX judgement of it to the checks; it is the best
        from now on, and is recorded when its checks come back (`_record_checked`)."""
        self.claimed = (len(program), model)
        self.checks.submit((program, model, now()), isa.to_text(program), correct=correct, items=items)

    def _record_checked(self, *, wait: bool = False) -> None:
        """Writes a record of each program whose checks came back (of every one pending, with
        `wait`), in the order found.

        Raises:
          games.MachineDisagreement: Unicorn judged a program differently from the JAX machine.
        """
        for (program, model, found), checked in self.checks.finished(wait=wait):
            if checked.mca_problem and not self._mca_warned:
                warn(f"{checked.mca_problem}; records get cycles: null")
                self._mca_warned = True
            record = Record.of(self.config.game, program, seed=self.config.seed, config=self.config.to_dict(),
                               source=f"alphadev train ({self.config.search.planner})", found=found,
                               latency={"cycles": checked.cycles, "model_cycles": model, "executed": checked.executed})
            self.run.add(record)
            self.best = record
            self._print(f"new best: {record.length} instructions, {model:.2f} model cycles, {checked.cycles} llvm-mca "
                        "cycles (confirmed on Unicorn)", line=True)

    def _check_lost(self) -> None:
        """Hands the checks again every candidate better than the best record: its checks were
        pending when a kill ended the run (a candidate is kept before its checks start)."""
        replay = jax.jit(self.game.from_moves)
        for candidate in self.run.candidates():
            if self._better(candidate["length"], candidate["model_cycles"]):
                program = isa.parse(candidate["text"])
                found = self.game.moves_for(program)
                moves = np.full(self.game.max_moves, -1, np.int32)
                moves[: len(found)] = found
                state = replay(moves)  # the JAX machine's judgement, as when it was found
                if state.correct:  # else not this game's program (a changed candidates.jsonl): no record
                    self._submit(program, candidate["model_cycles"], correct=True, items=float(state.items))

    def _keep_candidate(self, program) -> float:
        """Keeps a correct program as long as the best or shorter in the run's candidates (each
        distinct program once, for `alphadev rerank`); returns its model cycles."""
        text = isa.to_text(program)
        if text not in self.candidates:
            self.candidates[text] = self.game.model_cycles(program)
            self.run.add_candidate(text, len(program), self.candidates[text])
        return self.candidates[text]

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

    # -- what is logged beside the search's figures ------------------------------------------

    def _learn(self) -> dict[str, float]:
        """The learner's steps on the replay; the mean loss and its parts (NaN with a frozen network)."""
        cfg = self.config
        if cfg.ablation.frozen_network:
            return {k: float("nan") for k in ("loss", *LOSS_PARTS)}
        totals, parts = [], {k: [] for k in LOSS_PARTS}
        for _ in range(cfg.learner.steps_per_iteration):
            batch = devices.shard(self.replay.sample(cfg.learner.batch, cfg.learner.unroll), self.mesh)
            params, opt_state, loss, loss_parts = self.update(self.state["params"], self.state["opt_state"], batch)
            self.state.update(params=params, opt_state=opt_state)
            totals.append(float(loss))
            for k in LOSS_PARTS:
                parts[k].append(float(loss_parts[k]))
        return {"loss": float(np.mean(totals)), **{k: float(np.mean(v)) for k, v in parts.items()}}

    def _diagnosing(self) -> bool:
        every = self.config.diagnose_every
        return bool(every) and (self.iteration + 1) % every == 0  # the iteration being played

    def _diagnose(self, traj) -> dict[str, float]:
        """The network on held-out positions of the fresh trajectory (diagnostics.Probe)."""
        return self.probe(self._host_params(), traj)

    def _greedy(self) -> dict[str, float]:
        """The policy alone from the empty program, after this iteration's learning."""
        result = self.greedy(self._host_params())
        return {"greedy_correct": float(result.correct), "greedy_items": result.items,
                "greedy_length": float(result.length)}

    @staticmethod
    def _solved_from(final, starts) -> dict[str, int]:
        """Correct programs among the episodes that started from an archive cell (a non-empty
        row of `starts`) and from the empty program."""
        correct = np.asarray(final.correct)
        cell = np.zeros_like(correct) if starts is None else np.asarray(starts)[:, 0] >= 0
        return {"solved_from_archive": int(correct[cell].sum()), "solved_from_empty": int(correct[~cell].sum())}

    def _extra_columns(self, losses: dict, figures: dict) -> dict[str, float]:
        """The loss parts, then the diagnostics' figures (NaN on iterations not diagnosed), so
        that every metrics row has the same columns."""
        out = {f"loss_{k}": round(losses[k], 5) for k in LOSS_PARTS}
        if self.config.diagnose_every:
            out.update({k: round(figures.get(k, float("nan")), 5) for k in self.diagnostic_names})
        return out

    def _stop(self, elapsed: float, ran: int, max_iterations: Optional[int]) -> bool:
        """Whether to stop before another iteration: the target, the time, a signal, or the
        iteration count. Processes stop together when any of them would (the primary alone
        knows the target is reached; a lone process left in a collective would wait forever)."""
        stop = (self.done() or elapsed >= self.config.minutes * 60 or self._signal is not None
                or (max_iterations is not None and ran >= max_iterations))
        if self.processes == 1:
            return stop
        from jax.experimental import multihost_utils
        return bool(np.any(multihost_utils.process_allgather(np.int32(stop))))

    def _host_params(self):
        """The parameters for computations of this process alone (diagnostics, the archive's
        re-ranking): on the device arrays with several processes, any jitted call would be a
        collective every process must join."""
        params = self.state["params"]
        return params if self.processes == 1 else jax.device_get(params)

    def done(self) -> bool:
        if self.config.after_target == "latency":
            return False  # the target length starts the second phase; minutes end it
        target = self.config.target_length
        return bool(target and self.claimed is not None and self.claimed[0] <= target)

    def train(self, *, max_iterations: Optional[int] = None) -> Optional[Record]:
        """Runs until the target is reached, `minutes` are spent (counting earlier sessions of a
        resumed run) or `max_iterations` more iterations ran. Returns the best record.

        Raises:
          Interrupted: SIGINT or SIGTERM came; the iteration it came in was finished and saved.
        """
        if self.primary:
            self.run.claim(self.config.to_dict())  # again, where an earlier train() released it
        handlers = self._catch_signals()
        try:
            best = self._train(max_iterations)
        finally:
            for signum, handler in handlers.items():
                signal.signal(signum, handler)
            self.checks.close()  # nothing is pending unless the run failed or a second Ctrl-C came
            self.run.release()
            if self.board is not None:
                self.board.close()
                self.board = None
        if self._signal is not None:
            signum, self._signal = self._signal, None
            raise Interrupted(signum, self.iteration)
        return best

    def _catch_signals(self) -> dict:
        """Makes SIGINT and SIGTERM stop the loop after the current iteration; returns the
        handlers they had. (Only the main thread may set handlers; elsewhere they are left.)"""
        if threading.current_thread() is not threading.main_thread():
            return {}

        def stop(signum, _frame):
            if self._signal == signal.SIGINT and signum == signal.SIGINT:
                raise KeyboardInterrupt  # a second Ctrl-C: stop now, from the last checkpoint
            self._signal = self._signal or signum
            # os.write: a print here could interrupt a print, which raises.
            os.write(1, f"\nalphadev: {signal.Signals(signum).name}: stopping after this iteration and saving "
                        "a checkpoint (Ctrl-C again stops at once)\n".encode())
        return {signum: signal.signal(signum, stop) for signum in (signal.SIGINT, signal.SIGTERM)}

    def _train(self, max_iterations: Optional[int]) -> Optional[Record]:
        cfg = self.config
        resumed = self.restore()
        dropped = self.run.truncate_metrics(self.iteration) if self.primary else 0  # logged again
        later = f"; {dropped} metrics rows logged after it are logged again" if dropped else ""
        self._print(f"resumed {self.run.path} at iteration {self.iteration}{later}" if resumed else
                    f"started {self.run.path}", line=True)
        if self.primary:
            self.board = Board(self.run.path / "tensorboard", first_step=self.iteration + 1)
            self.checks.start()  # its workers start while the first iteration compiles
            self._check_lost()
        start, before = time.time(), float(self.state["elapsed"][0])
        self._saved_at = start
        ran = 0
        while not self._stop(before + time.time() - start, ran, max_iterations):
            t0 = time.time()
            key, play_key = jax.random.split(self.state["key"])
            starts = self._starts()
            traj = self.play(self.state["params"], play_key, starts)
            self.replay.add(traj, self.path_rewards)
            if self.archive is not None:
                self.archive.add(traj.cells)
                self.archive.add(traj.children)
            self._consider(traj)
            figures = self._diagnose(traj) if self._diagnosing() else {}  # before the learner sees traj
            losses = self._learn()
            self._record_checked()  # the checks had the learner's time to come back
            check_wait = self.checks.take_waited()  # what the checks held this iteration up
            moves = int(np.asarray(traj.valid).sum())
            episodes = cfg.selfplay_batch * self.processes  # moves: this process's (each counts its own)
            counters = self.state["counters"] + np.array([1, episodes, moves * cfg.search.simulations, moves])
            elapsed = before + time.time() - start
            self.state.update(key=key, counters=counters, elapsed=np.array([elapsed]))
            ran += 1
            final = jax.device_get(traj.final)
            rate = moves / max(time.time() - t0, 1e-9)
            best_len = self.claimed[0] if self.claimed else 0  # found; its record is written once checked
            if figures:
                figures.update(self._greedy())
            if self.iteration % cfg.log_every == 0 and self.primary:
                row = dict(iteration=self.iteration, episodes=int(counters[1]), expansions=int(counters[2]),
                           elapsed_s=round(elapsed, 2), loss=round(losses["loss"], 5),
                           mean_items=round(float(np.mean(final.items)), 5),
                           best_items=round(float(np.max(final.items)), 5), solved=int(np.sum(final.correct)),
                           best_length=best_len, moves_per_s=round(rate, 1),
                           check_wait_s=round(check_wait, 4),
                           archive=len(self.archive) if self.archive is not None else 0, devices=self.mesh.size,
                           **self._solved_from(final, starts), **self._extra_columns(losses, figures))
                self.run.log(**row)
                self.board.scalars(self.iteration, {k: v for k, v in row.items() if k != "iteration"})
            on = f" x{self.mesh.size} {self.mesh.devices.flat[0].platform}" if self.mesh.size > 1 else ""
            self._print(f"[{cfg.game} {cfg.search.planner}{on}] it {self.iteration} | {rate:,.0f} moves/s | "
                        f"best length {best_len or '-'} | best items {float(np.max(final.items)):.3f} | "
                        f"solved {int(np.sum(final.correct))}/{cfg.selfplay_batch} | loss {losses['loss']:.3f} | "
                        f"{f'archive {len(self.archive)} | ' if self.archive is not None else ''}"
                        f"{elapsed:,.0f} s")
            rerank = cfg.ablation.archive_rerank_every
            if self.archive is not None and rerank and self.iteration % rerank == 0:
                self.archive.rerank(lambda moves: self.prefix_values(self._host_params(), moves))
            if self.iteration % cfg.checkpoint_every == 0 or time.time() - self._saved_at >= self.checkpoint_seconds:
                self.save()
        self._record_checked(wait=True)  # however the loop ended: no record is lost
        self.save()
        if not self.quiet and sys.stdout.isatty():
            print()
        return self.best
