"""A user's own kernel, defined outside the package: the minimum of three int32.

`int32_t min3(const int32_t *buf)`: `rdi` points at three int32 values; the result is their
minimum (signed) in `eax`; memory is left alone. Load it with `--tasks`:

    alphadev --tasks examples/min3.py train min3 --iterations 2
    alphadev --tasks examples/min3.py verify runs/min3-exact-seed0/best.json
    alphadev --tasks examples/min3.py bench runs/min3-exact-seed0/best.json
    alphadev --tasks examples/min3.py export runs/min3-exact-seed0/best.json -o min3.h

or from Python: `import runpy; runpy.run_path("examples/min3.py")`, then `games.make("min3")`.
docs/adding-a-kernel.md walks through each part.
"""
import jax.numpy as jnp
import numpy as np

import games
import isa
from games.actions import slot_key
from games.sort import random_values, sort_vocabulary, tie_patterns
from games.task import first_fault
from isa import jax_machine

N = 3
REGISTERS = ("eax", "ecx", "edx", "esi")


class Min3(games.Task):
    name = "min3"
    registers = REGISTERS
    signature = games.Signature((games.Param("buf", "const int32_t *", "rdi"),), ctype="int32_t", result="eax")
    references = (games.Reference("two cmovs", isa.parse("""
        mov eax, dword ptr [rdi]
        mov ecx, dword ptr [rdi+4]
        cmp eax, ecx
        cmovg eax, ecx
        mov ecx, dword ptr [rdi+8]
        cmp eax, ecx
        cmovg eax, ecx
    """)),)
    c_references = (games.CReference("C ternaries (gcc -O3)", """    int32_t a = buf[0], b = buf[1], c = buf[2];
    int32_t m = a < b ? a : b;
    return m < c ? m : c;
"""),)
    target_lengths = {"human": 7}
    # Nothing is stored, so the sorts' store rules and dead-end checks do not apply: the
    # generic rules (Rules' defaults) hold, with room for a few instructions beyond the human's.
    config = games.Config(max_length=10)

    def __init__(self):
        values = tie_patterns(N)
        noise = np.random.default_rng(0).integers(0, 2**63, (len(values), 16), dtype=np.uint64)
        self.inputs = isa.Inputs(noise, values.view(np.uint8).reshape(len(values), -1))
        self.minimum = values.min(axis=1)
        vocabulary = sort_vocabulary(range(N), REGISTERS, ("l", "g"))
        # Loads, and register moves, compares and cmovs: no stores.
        self.vocabulary = tuple(i for i in vocabulary if not isinstance(i.operands[0], isa.Mem))
        self.slots = {slot_key(games.Slot(k).mem): k for k in range(N)}

    def jax_judge(self, machine, outside):
        eax = machine.regs[:, 0, 0].astype(jnp.int32)        # low 32 bits of rax
        values = jax_machine.dwords(machine.memory, 0, N).astype(jnp.int32)
        unchanged = jnp.all(values == jnp.asarray(self.inputs.memory.view(np.int32)), axis=1)
        good = (eax == jnp.asarray(self.minimum)) & (machine.fault == jax_machine.FAULT_NONE) & unchanged & ~outside
        return jnp.mean(good.astype(jnp.float32)), jnp.all(good)

    def _good(self, run, inputs) -> np.ndarray:
        values = inputs.memory.view(np.int32)
        eax = (run.registers[:, 0] & np.uint64(0xFFFFFFFF)).astype(np.uint32).view(np.int32)
        ok = np.array([f is None for f in run.fault])
        return ok & (eax == values.min(axis=1)) & np.all(run.memory == inputs.memory, axis=1)

    def check(self, run, inputs):
        reason = first_fault(run)
        wrong = np.flatnonzero(~self._good(run, inputs))
        if reason is None and len(wrong):
            i = wrong[0]
            got = int(np.uint32(run.registers[i, 0] & np.uint64(0xFFFFFFFF)).view(np.int32))
            reason = f"input {i}: {inputs.memory[i].view(np.int32).tolist()} -> eax {got}"
        return reason

    def assess(self, runs):
        (run, inputs), = runs
        good = self._good(run, inputs)
        return float(good.mean()), int(good.sum()), self.check(run, inputs)

    def random_inputs(self, n, seed):
        rng = np.random.default_rng(seed)
        values = random_values(n, N, rng)
        noise = rng.integers(0, 2**64 - 1, (n, 16), dtype=np.uint64, endpoint=True)
        return [isa.Inputs(noise, values.view(np.uint8).reshape(n, -1))]


games.register("min3", Min3)
