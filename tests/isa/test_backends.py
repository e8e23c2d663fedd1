"""The three backends: known programs, faults, and agreement on random programs."""
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import isa
from isa import Inputs, execute, testing

BACKENDS = ("jax", "unicorn", "native")
SORT3 = isa.parse("""
mov eax, dword ptr [rdi]
mov ecx, dword ptr [rdi+4]
mov edx, dword ptr [rdi+8]
mov r8d, eax
cmp eax, ecx
cmovg eax, ecx
cmovg ecx, r8d
mov r8d, ecx
cmp ecx, edx
cmovg ecx, edx
cmovg edx, r8d
mov r8d, eax
cmp eax, ecx
cmovg eax, ecx
cmovg ecx, r8d
mov dword ptr [rdi], eax
mov dword ptr [rdi+4], ecx
mov dword ptr [rdi+8], edx
""")


def _inputs(values, registers=None):
    values = np.asarray(values, np.int32)
    regs = np.zeros((len(values), 16), np.uint64) if registers is None else registers
    return Inputs(regs, values.view(np.uint8).reshape(len(values), -1))


@pytest.mark.parametrize("backend", BACKENDS)
def test_sort3_sorts_on_every_backend(backend):
    rng = np.random.default_rng(0)
    values = rng.integers(-2**31, 2**31, (16, 3))
    values[0] = [2**31 - 1, -2**31, 0]
    run = execute(SORT3, _inputs(values), backend)
    assert run.fault == [None] * 16
    np.testing.assert_array_equal(run.memory.view(np.int32), np.sort(values, axis=1))
    assert (run.executed == 18).all()
    assert run.flags_defined.all()


@pytest.mark.parametrize("backend", BACKENDS)
def test_32_bit_writes_zero_extend_even_when_cmov_does_not_move(backend):
    regs = np.zeros((1, 16), np.uint64)
    regs[0, 0] = regs[0, 1] = 0xFFFFFFFF_00000005  # rax, rcx
    run = execute(isa.parse("cmp eax, eax\ncmovne eax, ecx\nmov ecx, ecx"), Inputs(regs, np.zeros((1, 4), np.uint8)), backend)
    assert run.registers[0, 0] == 5 and run.registers[0, 1] == 5


@pytest.mark.parametrize("backend", BACKENDS)
def test_mul_gives_the_exact_128_bit_product(backend):
    regs = np.zeros((1, 16), np.uint64)
    regs[0, 0], regs[0, 3] = 0x9DDFEA08EB382D69, 0xFEDCBA9876543210  # rax, rbx
    run = execute(isa.parse("mul rbx"), Inputs(regs, np.zeros((1, 4), np.uint8)), backend)
    product = 0x9DDFEA08EB382D69 * 0xFEDCBA9876543210
    assert int(run.registers[0, 0]) == product % 2**64
    assert int(run.registers[0, 2]) == product >> 64
    assert run.flags[0, 0] and run.flags_defined[0].tolist() == [True, False, False, True]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("text, where", [
    ("mov eax, dword ptr [rdi+9]", "instruction 0"),         # one byte past a 12-byte region
    ("mov eax, dword ptr [rdi-1]", "instruction 0"),
    ("not eax\nmov qword ptr [rdi+8], rax", "instruction 1"),
    ("mov rax, 0x12345\nmov eax, dword ptr [rax]", "instruction 1"),
    ("movabs rsi, 0x8000000000000000\nmov eax, dword ptr [rdi+rsi]", "instruction 1"),  # non-canonical
])
def test_access_outside_the_data_region_faults(backend, text, where):
    run = execute(isa.parse(text), _inputs([[1, 2, 3]]), backend)
    assert run.fault[0].startswith("bad memory access") and where in run.fault[0]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("text", ["cmovl eax, ecx", "imul eax, ecx\ncmovl eax, ecx",
                                  "shl eax, 2\njl .x\n.x:", "cmp eax, ecx\nmul ecx\nje .x\n.x:"])
def test_reading_an_undefined_flag_is_ill_formed(backend, text):
    run = execute(isa.parse(text), _inputs([[1, 2, 3]]), backend)
    assert run.fault[0].startswith("ill-formed")


def test_native_survives_a_wild_dereference():
    """With the bounds check off the CPU really faults (SIGSEGV) inside the child."""
    program = isa.parse("mov rax, 0x10\nmov eax, dword ptr [rax]\nmov dword ptr [rdi], 7")
    run = execute(program, _inputs([[1, 2, 3], [4, 5, 6]]), "native", check_memory=False)
    assert all("SIGSEGV" in f and "instruction 1" in f for f in run.fault)
    assert execute(SORT3, _inputs([[3, 2, 1]]), "native").fault == [None]  # and the caller goes on


def test_forward_jumps_take_the_right_path_on_every_backend():
    program = isa.parse("""
        mov eax, dword ptr [rdi]
        cmp eax, 2
        jge .big
        mov dword ptr [rdi+4], 1
        jmp .end
    .big:
        mov dword ptr [rdi+4], 2
    .end:
    """)
    runs = [execute(program, _inputs([[1, 0, 0], [5, 0, 0]]), b) for b in BACKENDS]
    for run in runs:
        assert run.memory.view(np.int32)[:, 1].tolist() == [1, 2]
        assert run.executed.tolist() == [5, 4]


def test_bad_backend_name_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown backend 'gpu'"):
        execute(SORT3, _inputs([[1, 2, 3]]), "gpu")


class _Draw:
    """Adapts hypothesis' `draw` to the generator's `Chooser`, so failures shrink."""

    def __init__(self, draw):
        self.draw = draw

    def pick(self, options):
        return self.draw(st.sampled_from(list(options)))

    def integer(self, lo, hi):
        return self.draw(st.integers(lo, hi))


DATA_SIZE = 16


@st.composite
def programs_and_inputs(draw):
    program = testing.random_program(_Draw(draw), max_length=12, data_size=DATA_SIZE)
    seed = draw(st.integers(0, 2**32 - 1))
    return program, testing.random_inputs(np.random.default_rng(seed), 4, DATA_SIZE)


@settings(max_examples=1000, derandomize=True, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(programs_and_inputs())
def test_backends_agree_on_random_programs(case):
    program, inputs = case
    runs = {b: execute(program, inputs, b) for b in BACKENDS}
    problems = [p for b in BACKENDS[1:] for p in testing.disagreements(runs["jax"], runs[b], ("jax", b))]
    assert not problems, isa.to_text(program) + "\n".join(problems)


def test_native_preserves_the_callers_callee_saved_registers():
    """A kernel that overwrites rbx, rbp and r12-r15 leaves the harness able to go on."""
    program = isa.parse("\n".join(f"mov {r}, {k + 1}" for k, r in enumerate(("rbx", "rbp", "r12", "r13", "r14", "r15")))
                        + "\nmov dword ptr [rdi], ebx")
    run = execute(program, _inputs([[0, 0, 0]] * 8), "native")
    assert run.fault == [None] * 8
    assert run.registers[:, [3, 5, 12, 13, 14, 15]].tolist() == [[1, 2, 3, 4, 5, 6]] * 8
    assert run.memory.view(np.int32)[:, 0].tolist() == [1] * 8
