"""Devices: one mesh over every device, batches split across it, parameters replicated.

Self-play's episodes and the learner's batch are split along their batch axis over
`jax.devices()` (a one-axis `Mesh`, `NamedSharding`); parameters, optimiser state and keys are
replicated. XLA partitions each jitted computation to match (GSPMD), so the learner's gradient,
a mean over a batch split across devices, is all-reduced by XLA; nothing here is hand-written
communication. On one device every function is the identity on placement.
"""
from __future__ import annotations

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

__all__ = ["AXIS", "check_divides", "make_mesh", "replicate", "shard", "sharded"]

AXIS = "batch"


def make_mesh() -> Mesh:
    """A one-axis mesh ("batch") over every device of every process."""
    return Mesh(np.asarray(jax.devices()), (AXIS,))


def sharded(mesh: Mesh, axis: int = 0) -> NamedSharding:
    """Split along `axis` over the mesh, every other axis whole."""
    return NamedSharding(mesh, P(*([None] * axis), AXIS))


def shard(tree, mesh: Mesh, axis: int = 0):
    """Places every leaf of `tree` split along `axis` over the mesh."""
    return jax.device_put(tree, sharded(mesh, axis))


def replicate(tree, mesh: Mesh):
    """Places every leaf of `tree` whole on every device of the mesh (numpy leaves stay numpy:
    they are host-side counters)."""
    whole = NamedSharding(mesh, P())
    return jax.tree_util.tree_map(lambda x: x if isinstance(x, np.ndarray) else jax.device_put(x, whole), tree)


def check_divides(mesh: Mesh, **sizes: int) -> None:
    """Raises ValueError, one line, for a batch size the mesh's devices cannot split evenly.

    Args:
      mesh: the mesh.
      sizes: name -> batch size, e.g. selfplay_batch=64.
    """
    n = mesh.size
    for name, size in sizes.items():
        if size % n:
            fits = [k * n for k in (max(size // n, 1), size // n + 1) if k * n > 0]
            raise ValueError(f"{name} {size} does not divide by the {n} devices ({jax.devices()[0].platform}); "
                             f"use a multiple of {n}, e.g. {' or '.join(map(str, sorted(set(fits))))}")
