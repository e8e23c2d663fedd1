"""64-bit integer arithmetic on pairs of uint32, for the JAX machine.

JAX computes in 32 bits unless `jax_enable_x64` is switched on, and that switch is process-wide:
it would turn every float in the agent's networks into float64 and does not suit accelerators.
So a 64-bit value is a pair `(lo, hi)` of uint32 arrays, and these helpers give exact wrapping
arithmetic, shifts, rotations and the 128-bit product on such pairs. Shift amounts are uint32;
XLA defines a shift by 32 or more as 0 (logical) or the sign fill (arithmetic).
"""
from __future__ import annotations

import jax.numpy as jnp
import numpy as np

__all__ = ["split", "join", "add", "sub", "shl", "shr", "sar", "mul32", "mul128", "where"]

U32 = jnp.uint32


def split(x: np.ndarray) -> np.ndarray:
    """uint64 [...] -> uint32 [..., 2] (lo, hi), in numpy."""
    x = np.asarray(x, np.uint64)
    return np.stack([(x & np.uint64(0xFFFFFFFF)).astype(np.uint32), (x >> np.uint64(32)).astype(np.uint32)], -1)


def join(pair: np.ndarray) -> np.ndarray:
    """uint32 [..., 2] -> uint64 [...], in numpy."""
    pair = np.asarray(pair, np.uint64)
    return pair[..., 0] | (pair[..., 1] << np.uint64(32))


def add(a, b):
    """Returns (sum, carry out of bit 63, carry out of bit 31)."""
    lo = a[0] + b[0]
    c0 = lo < a[0]
    t = a[1] + b[1]
    hi = t + c0.astype(U32)
    c64 = (t < a[1]) | (hi < t)
    return (lo, hi), c64, c0


def sub(a, b):
    """Returns (difference, borrow out of bit 63, borrow out of bit 31)."""
    lo = a[0] - b[0]
    b0 = a[0] < b[0]
    t = a[1] - b[1]
    hi = t - b0.astype(U32)
    b64 = (a[1] < b[1]) | (t < b0.astype(U32))
    return (lo, hi), b64, b0


def shl(a, c):
    """a << c for c in [0, 64]."""
    small = c < 32
    lo = jnp.where(small, a[0] << c, 0)
    hi = jnp.where(small, (a[1] << c) | (a[0] >> (32 - c)), a[0] << (c - 32))
    return lo.astype(U32), hi.astype(U32)


def shr(a, c):
    """Logical a >> c for c in [0, 64]."""
    small = c < 32
    lo = jnp.where(small, (a[0] >> c) | (a[1] << (32 - c)), a[1] >> (c - 32))
    hi = jnp.where(small, a[1] >> c, 0)
    return lo.astype(U32), hi.astype(U32)


def sar(a, c):
    """Arithmetic a >> c for c in [0, 63]."""
    hi_s = a[1].astype(jnp.int32)
    small = c < 32
    c = c.astype(jnp.int32)  # an arithmetic shift of int32 by uint32 would promote the type
    uc = c.astype(U32)
    lo = jnp.where(small, (a[0] >> uc) | (a[1] << (32 - uc)), (hi_s >> (c - 32)).astype(U32))
    hi = jnp.where(small, (hi_s >> c).astype(U32), (hi_s >> 31).astype(U32))
    return lo.astype(U32), hi.astype(U32)


def mul32(a, b):
    """Full product of two uint32 as a pair (lo, hi), through 16-bit limbs."""
    a0, a1 = a & 0xFFFF, a >> 16
    b0, b1 = b & 0xFFFF, b >> 16
    p00, p01, p10, p11 = a0 * b0, a0 * b1, a1 * b0, a1 * b1
    mid = (p00 >> 16) + (p01 & 0xFFFF) + (p10 & 0xFFFF)
    lo = (p00 & 0xFFFF) | (mid << 16)
    hi = p11 + (p01 >> 16) + (p10 >> 16) + (mid >> 16)
    return lo.astype(U32), hi.astype(U32)


def mul128(a, b):
    """Unsigned 64 x 64 -> 128-bit product: ((w0, w1), (w2, w3))."""
    p0 = mul32(a[0], b[0])
    p1 = mul32(a[0], b[1])
    p2 = mul32(a[1], b[0])
    p3 = mul32(a[1], b[1])
    w1, c1, _ = add((p0[1], jnp.zeros_like(p0[1])), (p1[0], jnp.zeros_like(p1[0])))
    w1, c2, _ = add(w1, (p2[0], jnp.zeros_like(p2[0])))
    # w1 is now a 34-bit sum held as (low word, carry word); fold its carry into the upper half.
    upper = (p3[0], p3[1])
    upper, _, _ = add(upper, (p1[1], jnp.zeros_like(p1[1])))
    upper, _, _ = add(upper, (p2[1], jnp.zeros_like(p2[1])))
    upper, _, _ = add(upper, (w1[1], jnp.zeros_like(w1[1])))
    return (p0[0], w1[0]), upper


def where(cond, x):
    """The pair x where cond, else 0."""
    return jnp.where(cond, x[0], 0).astype(U32), jnp.where(cond, x[1], 0).astype(U32)
