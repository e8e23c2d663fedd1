"""The JAX machine's own interface: tokens, batching over programs, compiled-out operations."""
import jax
import numpy as np
import pytest

import isa
from isa import jax_machine as jm
from isa import execute, testing, u64


def _batch(programs, inputs, length=16):
    tokens = np.stack([jm.encode_program(p, length) for p in programs])
    regs = np.broadcast_to(u64.split(inputs.registers), (len(programs), len(inputs), 16, 2))
    mem = np.broadcast_to(inputs.memory, (len(programs), len(inputs), inputs.data_size))
    return tokens, regs, mem


def _programs(n, seed=0, data_size=16):
    chooser = testing.NumpyChooser(np.random.default_rng(seed))
    return [testing.random_program(chooser, max_length=12, data_size=data_size) for _ in range(n)]


def test_a_batch_of_programs_matches_one_program_at_a_time():
    programs = _programs(24)
    inputs = testing.random_inputs(np.random.default_rng(1), 3, 16)
    out = jax.device_get(jm.run_batch(*_batch(programs, inputs)))
    for k, program in enumerate(programs):
        one = execute(program, inputs, "unicorn")
        for i in range(len(inputs)):
            assert (out.fault[k, i] == 0) == (one.fault[i] is None)
            if one.fault[i] is None:
                np.testing.assert_array_equal(u64.join(out.regs[k, i]), one.registers[i])
                np.testing.assert_array_equal(out.memory[k, i, :-8], one.memory[i])


def test_compiling_out_unused_operations_changes_nothing():
    vocabulary = isa.parse("mov eax, dword ptr [rdi]\nmov ecx, dword ptr [rdi+4]\ncmp eax, ecx\n"
                           "cmovg eax, ecx\nadd ecx, 3\nmov dword ptr [rdi], eax\nnot ecx")
    rng = np.random.default_rng(2)
    programs = [isa.Program(tuple(vocabulary[i] for i in sorted(rng.choice(7, 5, replace=False))))
                for _ in range(16)]
    inputs = testing.random_inputs(rng, 4, 16)
    tokens, regs, mem = _batch(programs, inputs)
    ops = jm.ops_of(tokens)
    assert ops < jm.ALL_OPS and "mul" not in ops
    full = jax.device_get(jm.run_batch(tokens, regs, mem))
    lean = jax.device_get(jm.run_batch(tokens, regs, mem, ops=ops))
    for a, b in zip(jax.tree_util.tree_leaves(full), jax.tree_util.tree_leaves(lean), strict=True):
        np.testing.assert_array_equal(a, b)


def test_run_batch_refuses_tokens_outside_ops():
    inputs = testing.random_inputs(np.random.default_rng(3), 2, 16)
    with pytest.raises(ValueError, match=r"\['mul'\]"):
        jm.run_batch(*_batch([isa.parse("mul ecx")], inputs), ops=frozenset({"mov"}))


def test_run_batch_checks_shapes():
    inputs = testing.random_inputs(np.random.default_rng(3), 2, 16)
    tokens, regs, mem = _batch([isa.parse("not eax")], inputs)
    with pytest.raises(ValueError, match="registers must be"):
        jm.run_batch(tokens, regs[:, :, :8], mem)


def test_step_grows_a_program_move_by_move():
    """A game's use: one jitted step per appended instruction, vmapped over inputs."""
    program = isa.parse("mov eax, dword ptr [rdi]\ncmp eax, 5\njl .end\nmov dword ptr [rdi+4], eax\n.end:")
    inputs = testing.random_inputs(np.random.default_rng(4), 6, 8)
    machine = jax.vmap(jm.init)(u64.split(inputs.registers), inputs.memory)
    step = jax.jit(jax.vmap(jm.step, in_axes=(0, None, None)))
    for position, instruction in enumerate(program):
        machine = step(machine, jm.encode(instruction), position)
    reference = execute(program, inputs, "unicorn")
    np.testing.assert_array_equal(np.asarray(machine.memory)[:, :-8], reference.memory)
    np.testing.assert_array_equal(np.asarray(machine.executed), reference.executed)
