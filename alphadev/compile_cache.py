"""JAX's persistent compilation cache, so that a second start skips most of XLA's compilation.

Every command that compiles (train, search, the experiments) calls `enable()` first. The cache
is keyed by XLA on the computation, the backend and the jax version, so a stale entry is never
used. `ALPHADEV_JAX_CACHE` names the directory (default `~/.cache/alphadev/jax`); `off`
disables it.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

__all__ = ["ENV", "enable"]

ENV = "ALPHADEV_JAX_CACHE"


def enable() -> Optional[Path]:
    """Points JAX's persistent cache at the directory `ALPHADEV_JAX_CACHE` names.

    Returns:
      The directory, or None when disabled or unusable (a cache is an optimisation: a directory
      that cannot be created leaves compilation as it was, never stops a run).
    """
    setting = os.environ.get(ENV, str(Path.home() / ".cache" / "alphadev" / "jax"))
    if setting.lower() in ("off", "0", "none", ""):
        return None
    path = Path(setting).expanduser()
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    import jax
    jax.config.update("jax_compilation_cache_dir", str(path))
    # Every computation, small ones too: a start compiles hundreds of them, and together the
    # small ones are a large part of the wait (entries are kilobytes).
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    return path
