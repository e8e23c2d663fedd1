"""Devices: one mesh over every device, batches split across it, parameters replicated.

Self-play's episodes and the learner's batch are split along their batch axis over
`jax.devices()` (a one-axis `Mesh`, `NamedSharding`); parameters, optimiser state and keys are
replicated. XLA partitions each jitted computation to match (GSPMD), so the learner's gradient,
a mean over a batch split across devices, is all-reduced by XLA; nothing here is hand-written
communication. On one device every function is the identity on placement.

Several processes (`alphadev.distributed`, one per host): the mesh spans every process's
devices. Each process contributes its own rows to a batch (`shard` builds the global array from
each process's local part), gets its own rows back (`local`), and sees everyone's with `gather`.
A jitted call on global arrays is a collective: every process makes it, in the same order.
"""
from __future__ import annotations

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

__all__ = ["AXIS", "check_divides", "gather", "local", "make_mesh", "replicate", "shard", "sharded"]

AXIS = "batch"


def make_mesh() -> Mesh:
    """A one-axis mesh ("batch") over every device of every process."""
    return Mesh(np.asarray(jax.devices()), (AXIS,))


def sharded(mesh: Mesh, axis: int = 0) -> NamedSharding:
    """Split along `axis` over the mesh, every other axis whole."""
    return NamedSharding(mesh, P(*([None] * axis), AXIS))


def shard(tree, mesh: Mesh, axis: int = 0):
    """Places every leaf of `tree` split along `axis` over the mesh.

    With several processes each passes its own rows, and the global array stacks them in
    process order (its `axis` is the process count times as long).
    """
    if jax.process_count() == 1:
        return jax.device_put(tree, sharded(mesh, axis))
    return jax.tree_util.tree_map(
        lambda x: jax.make_array_from_process_local_data(sharded(mesh, axis), np.asarray(x)), tree)


def local(tree, axis: int = 0):
    """This process's rows (along `axis`) of every leaf, as numpy; the whole array in a
    single process."""
    def rows(x):
        if jax.process_count() == 1 or not isinstance(x, jax.Array):
            return np.asarray(jax.device_get(x))
        parts = {}
        for s in x.addressable_shards:  # a replicated axis repeats shards: keep one per index
            parts.setdefault(s.index[axis].start or 0, np.asarray(s.data))
        return np.concatenate([parts[k] for k in sorted(parts)], axis=axis)
    return jax.tree_util.tree_map(rows, tree)


def gather(tree, axis: int = 0):
    """Every process's rows of every leaf (numpy, `local` rows stacked in process order along
    `axis`); a collective: every process calls it."""
    if jax.process_count() == 1:
        return jax.device_get(tree)
    from jax.experimental import multihost_utils
    moved = jax.tree_util.tree_map(lambda x: np.moveaxis(np.asarray(x), axis, 0), tree)
    return jax.tree_util.tree_map(lambda x: np.moveaxis(np.asarray(x), 0, axis),
                                  multihost_utils.process_allgather(moved, tiled=True))


def replicate(tree, mesh: Mesh):
    """Places every leaf of `tree` whole on every device of the mesh (numpy leaves stay numpy:
    they are host-side counters)."""
    whole = NamedSharding(mesh, P())
    return jax.tree_util.tree_map(lambda x: x if isinstance(x, np.ndarray) else jax.device_put(x, whole), tree)


def check_divides(n: int, **sizes: int) -> None:
    """Raises ValueError, one line, for a batch size `n` devices cannot split evenly.

    Args:
      n: the devices (a process splits its own share of a batch over its local devices).
      sizes: name -> batch size, e.g. selfplay_batch=64.
    """
    for name, size in sizes.items():
        if size % n:
            fits = sorted({k * n for k in (size // n, size // n + 1) if k > 0})
            raise ValueError(f"{name} {size} does not divide by the {n} devices ({jax.devices()[0].platform}); "
                             f"use a multiple of {n}, e.g. {' or '.join(map(str, fits))}")
