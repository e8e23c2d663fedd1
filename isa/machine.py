"""One way to run a program: `execute(program, inputs, backend)` -> `Execution`.

Only the dispatcher lives here. The shared types are in the leaf `isa.types`, which the
backends import; this module imports the backends lazily, inside `execute`, so none of them
depends on it. The public spelling is `isa.execute`.
"""
from __future__ import annotations

from isa.model import Program
from isa.types import BACKENDS, Execution, Inputs

__all__ = ["execute"]


def execute(program: Program, inputs: Inputs, backend: str = "jax", **options) -> Execution:
    """Runs a kernel body on a batch of inputs.

    Args:
      program: the `Program`.
      inputs: `Inputs` with I states.
      backend: "jax" (the pure machine the search runs), "unicorn" (the reference emulator)
        or "native" (the host CPU, in a child process).
      **options: passed to the backend (e.g. `step_limit`).
    Returns:
      An `Execution` with I entries.
    """
    if not isinstance(program, Program):
        raise TypeError(f"execute takes a Program, got {type(program).__name__}")
    if backend == "jax":
        from isa import jax_machine
        return jax_machine.execute(program, inputs, **options)
    if backend == "unicorn":
        from isa import unicorn_backend
        return unicorn_backend.execute(program, inputs, **options)
    if backend == "native":
        from isa import native
        return native.execute(program, inputs, **options)
    raise ValueError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
