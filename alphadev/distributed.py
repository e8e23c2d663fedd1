"""Training over several processes (one per host, or several on one for tests), through JAX.

`initialize` joins the processes with `jax.distributed.initialize`, before anything else
touches JAX. Then the mesh (`alphadev.devices`) spans every process's devices: each process
plays its own episodes and keeps its own replay buffer and archive; the learner's batch stacks
every process's samples, so XLA averages the gradient over all of them and every process holds
the same parameters. Process 0 alone writes the run directory (records, metrics, TensorBoard,
config) and its replay and archive files; the checkpoint is written by orbax from every process
(each its shards, the primary the metadata), so the run directory must be on a file system
every host sees. Another process's replay and archive are not saved: a resumed run starts them
empty.
"""
from __future__ import annotations

from typing import Optional

__all__ = ["initialize", "is_primary", "process_seed"]


def initialize(*, coordinator: Optional[str] = None, num_processes: Optional[int] = None,
               process_id: Optional[int] = None, from_environment: bool = False) -> int:
    """Joins a multi-process run; a no-op when nothing asks for one.

    Args:
      coordinator: "HOST:PORT" of process 0's coordination service.
      num_processes: how many processes take part.
      process_id: this process's index, 0 .. num_processes - 1.
      from_environment: read all three from the environment a cluster scheduler sets (SLURM,
        Open MPI, a Cloud TPU VM), as `jax.distributed.initialize()` does.
    Returns:
      The number of processes.
    Raises:
      ValueError: one line, for an incomplete or inconsistent set of arguments.
    """
    given = [coordinator is not None, num_processes is not None, process_id is not None]
    if not any(given) and not from_environment:
        return 1
    if from_environment and any(given):
        raise ValueError("--distributed reads the processes from the environment: give it alone, or give "
                         "--coordinator, --num-processes and --process-id instead")
    if not from_environment and not all(given):
        raise ValueError("--coordinator, --num-processes and --process-id go together")
    if not from_environment:
        if num_processes < 1 or not 0 <= process_id < num_processes:
            raise ValueError(f"--process-id {process_id}: must be in 0..{num_processes - 1} for --num-processes "
                             f"{num_processes}")
        host, _, port = coordinator.rpartition(":")
        if not host or not port.isdigit():
            raise ValueError(f"--coordinator {coordinator}: expected HOST:PORT")
    import jax
    try:  # collectives between CPU processes (older jax has none by default; newer ones use gloo anyway)
        jax.config.update("jax_cpu_collectives_implementation", "gloo")
    except (AttributeError, ValueError):
        pass
    if from_environment:
        jax.distributed.initialize()
    else:
        jax.distributed.initialize(coordinator, num_processes, process_id)
    return jax.process_count()


def is_primary() -> bool:
    """This process writes the run directory (process 0, or the only one)."""
    import jax
    return jax.process_index() == 0


def process_seed(seed: int) -> int:
    """A seed for this process's own host-side randomness (replay sampling, archive draws):
    `seed` itself in process 0, so that one process runs exactly as before."""
    import jax
    k = jax.process_index()
    return seed if k == 0 else (seed * 1_000_003 + k) % 2**31
