"""Host-side checks of new best programs, in a small process pool off the training loop's path.

A program the JAX machine judged correct and better than the best so far is confirmed on
Unicorn (`Game.confirm_program`, which raises `MachineDisagreement` where the two judge it
differently) and timed by llvm-mca: `check`. `Checks` runs these in `workers` processes (0: at
once, in the caller's process) and hands the results back in the order they were submitted, so
that records are written in the order their programs were found. A worker is handed picklable
things only (the game's name and config, the task files the trainer loaded, the program's text,
the JAX judgement), never a JAX state; a task registered in code only cannot be built there, so
its checks run in the caller's process, as after any break of the pool.

Workers are spawned, not forked (JAX's threads do not survive a fork), so a script that trains
must guard its entry point with `if __name__ == "__main__"`. They keep off accelerators, ignore
SIGINT and SIGTERM (the trainer decides when to stop, and waits for what is pending), and exit
when the trainer's process is gone (a SIGKILL leaves no orphans). A pool that breaks (a worker
killed) is replaced by checks in the caller's process, with a warning: no check is lost.
"""
from __future__ import annotations

import collections
import dataclasses
import functools
import json
import multiprocessing
import os
import signal
import threading
import time
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, Iterator, Optional

import jax

import games
import isa
from alphadev.rundir import one_line, warn

__all__ = ["Checked", "check", "Checks"]

PARENT_POLL_S = 1.0  # how often a worker looks whether the trainer's process is still there
STOP_SIGNALS = {signal.SIGINT, signal.SIGTERM}


@dataclasses.dataclass(frozen=True)
class Checked:
    """What the checks found, for the record.

    Attributes:
      executed: Unicorn's mean instructions executed per input.
      cycles: llvm-mca's cycles for one call; None where llvm-mca is missing or fails.
      mca_problem: why `cycles` is None, in one line; None when it is not.
    """
    executed: float
    cycles: Optional[int]
    mca_problem: Optional[str] = None


def check(game: str, game_config: dict, text: str, *, correct: bool, items: float) -> Checked:
    """Confirms a program on Unicorn against the JAX judgement, then asks llvm-mca its cycles.

    Args:
      game, game_config: the game as the trainer made it (`games.make(game, **game_config)`).
      text: the program (`isa.to_text`), as its record will hold it.
      correct, items: the JAX state's judgement of it.
    Returns:
      The `Checked`.
    Raises:
      games.MachineDisagreement: Unicorn judges the program differently.
    """
    program = isa.parse(text)
    made = _game(game, json.dumps(game_config, sort_keys=True))  # as the worker's initializer made it
    score = made.confirm_program(program, correct=correct, items=items)
    try:
        return Checked(score.executed, isa.latency.cycles(program))
    except (isa.latency.McaUnavailable, ValueError) as e:  # a record is never lost to llvm-mca
        return Checked(score.executed, None, one_line(e))


@functools.lru_cache(maxsize=8)
def _game(name: str, config_json: str) -> games.Game:
    return games.make(name, **json.loads(config_json))


def _start_worker(parent: int, game: str, config_json: str, task_files: list[str]) -> None:
    # Launched with STOP_SIGNALS blocked (`Checks._to_pool`), ignored from here on: the Ctrl-C a
    # terminal sends the whole process group is the trainer's alone, even while a worker starts.
    for signum in STOP_SIGNALS:
        signal.signal(signum, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
    jax.config.update("jax_platforms", "cpu")  # nothing here needs a device: take none of its memory
    threading.Thread(target=_exit_without, args=(parent,), daemon=True).start()
    for path in task_files:  # the user's tasks the trainer loaded (`alphadev --tasks`)
        games.registry.load_tasks(path)
    _game(game, config_json)  # made before the first check needs it


def _ready() -> None:
    """A task that does nothing: submitted, it makes the executor launch its workers."""


def _exit_without(parent: int) -> None:
    """Ends the worker once `parent` is gone: an executor's workers otherwise outlive a SIGKILL."""
    while os.getppid() == parent:
        time.sleep(PARENT_POLL_S)
    os._exit(0)


@dataclasses.dataclass
class _Pending:
    tag: Any
    text: str
    judgement: dict  # correct, items
    future: Future


class Checks:
    """`check`s of programs, run in `workers` processes, handed back in the order submitted.

    Args:
      game, game_config: the game (`games.make(game, **game_config)`).
      workers: processes in the pool, launched by `start` or the first submission; 0: each
        check runs in this process when it is submitted.
    """

    def __init__(self, game: str, game_config: dict, *, workers: int):
        if getattr(multiprocessing.current_process(), "_inheriting", False):  # spawn's bootstrap
            raise RuntimeError("a training started in a checks' worker process, which imports the main module: "
                               "guard the script's entry point with `if __name__ == \"__main__\":`")
        self._game_args = (game, dict(game_config))
        self._config_json = json.dumps(game_config, sort_keys=True)
        self.workers = workers
        self._pool: Optional[ProcessPoolExecutor] = None
        self._pending: collections.deque[_Pending] = collections.deque()
        self._waited = 0.0

    def __len__(self) -> int:
        """Checks submitted and not yet handed back."""
        return len(self._pending)

    def start(self) -> None:
        """Launches the workers now rather than at the first check (they take seconds to start)."""
        if self.workers and self._pool is None:
            self._to_pool(_ready)

    def submit(self, tag: Any, text: str, *, correct: bool, items: float) -> None:
        """Queues a check of `text` (see `check`); `tag` comes back with its result.

        Raises:
          games.MachineDisagreement: at once, with no workers.
        """
        judgement = dict(correct=correct, items=items)
        start = time.perf_counter()
        if self.workers:
            future = self._to_pool(check, *self._game_args, text, **judgement)
        else:
            future = Future()
            future.set_result(check(*self._game_args, text, **judgement))
        self._waited += time.perf_counter() - start
        self._pending.append(_Pending(tag, text, judgement, future))

    def finished(self, *, wait: bool = False) -> Iterator[tuple[Any, Checked]]:
        """(tag, `Checked`) of each check done, in the order submitted (one waits for those
        before it); with `wait`, of every check pending, waiting for them.

        Raises:
          games.MachineDisagreement: from a check; those before it were handed back.
        """
        while self._pending and (wait or self._pending[0].future.done()):
            pending = self._pending.popleft()
            start = time.perf_counter()
            checked = self._result(pending)
            self._waited += time.perf_counter() - start
            yield pending.tag, checked

    def take_waited(self) -> float:
        """Seconds the caller spent in `submit` and `finished` since the last call: the time
        the checks held it up."""
        waited, self._waited = self._waited, 0.0
        return waited

    def close(self) -> None:
        """Stops the workers; checks still pending are dropped (hand them back first)."""
        self._pending.clear()
        self._stop_pool()

    def _to_pool(self, fn, *args, **kwargs) -> Future:
        """`fn(*args, **kwargs)` in a worker. The executor launches workers from within submit,
        which launch with the signals blocked here (see `_start_worker`)."""
        if self._pool is None:
            self._pool = ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("spawn"),
                                             initializer=_start_worker,
                                             initargs=(os.getpid(), self._game_args[0], self._config_json,
                                                       games.registry.task_files()))
        blocked = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
        try:
            return self._pool.submit(fn, *args, **kwargs)
        except BrokenProcessPool as e:  # a worker died starting (e.g. a task registered in code only)
            self._broke(e)
            future = Future()
            future.set_result(fn(*args, **kwargs))
            return future
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)

    def _stop_pool(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None

    def _result(self, pending: _Pending) -> Checked:
        try:
            return pending.future.result()
        except BrokenProcessPool as e:  # a worker was killed: check here, this one and the rest
            self._broke(e)
            return check(*self._game_args, pending.text, **pending.judgement)

    def _broke(self, e: BrokenProcessPool) -> None:
        """From now on, checks run in this process (said once)."""
        if self.workers:
            warn(f"the checks' process pool broke ({one_line(e)}); checking in the training process from now on")
            self.workers = 0
            self._stop_pool()
