"""Where a record came from: the code (git commit, uncommitted changes), the libraries and the
machine. Every record carries it, so a figure can be traced to what produced it.

Each field is best effort and never fails a run: outside a git checkout, or without git,
`commit` is None; a library that is not installed is left out.
"""
from __future__ import annotations

import functools
import platform
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Optional

__all__ = ["provenance", "git_state", "cpu_model"]

LIBRARIES = ("alphadev", "jax", "jaxlib", "flax", "optax", "mctx", "orbax-checkpoint", "numpy", "unicorn")
SOURCE = Path(__file__).resolve().parents[1]  # the checkout this package runs from


def git_state(where: Path = SOURCE) -> tuple[Optional[str], Optional[bool]]:
    """(HEAD's commit, whether tracked files differ from it) of the checkout at `where`;
    (None, None) outside one."""
    def git(*args: str) -> Optional[str]:
        try:
            out = subprocess.run(["git", "-C", str(where), *args], capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.SubprocessError):
            return None
        return out.stdout.strip() if out.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    if commit is None:
        return None, None
    status = git("status", "--porcelain", "--untracked-files=no")
    return commit, (None if status is None else bool(status))


def cpu_model() -> str:
    """The CPU's model name (/proc/cpuinfo on Linux), else what `platform` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _versions() -> dict[str, str]:
    out = {}
    for name in LIBRARIES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return out


def _device_kind() -> Optional[str]:
    try:
        import jax
        return jax.devices()[0].device_kind
    except Exception:  # no backend can start: provenance must not stop a record being written
        return None


@functools.lru_cache(maxsize=1)
def provenance() -> dict:
    """{"commit", "dirty", "versions": {library: version}, "python", "cpu", "device"}; computed
    once per process (the code and machine do not change under a running process)."""
    commit, dirty = git_state()
    return {"commit": commit, "dirty": dirty, "versions": _versions(), "python": platform.python_version(),
            "cpu": cpu_model(), "device": _device_kind()}
