"""hash9to16's independent battery: the references pass it, weak mixes fail it for the right
reason, and a hash the search found correct on the corpus is caught by it."""
import numpy as np
import pytest

import games
import isa
from games import Verdict
from games.hash import ABSEIL_2022, ABSEIL_2023, K_MUL, abseil_2022, abseil_2023, expected_collisions
from games.hash_battery import FAMILIES, METRICS, _collisions, build, figures

NO_MULTIPLY = """
    mov rax, qword ptr [rdi]
    mov rcx, qword ptr [rdi+rsi-8]
    add rax, rdx
    ror rax, 29
    xor rax, rcx
    ror rcx, 13
    add rax, rcx
    ror rax, 32
    xor rax, rdx
"""
# lo + hi, then Abseil 2022's two mixes: the words enter only through their sum.
SYMMETRIC = f"""
    mov rax, qword ptr [rdi]
    mov rcx, qword ptr [rdi+rsi-8]
    add rax, rcx
    add rax, rdx
    movabs r8, {K_MUL:#x}
    mul r8
    xor rax, rdx
    mul r8
    xor rax, rdx
"""
# Abseil 2022, then its high half shifted down and the last word's xored in: the result's high
# 32 bits are the last word's, unmixed.
HIGH_HALF_UNMIXED = isa.to_text(ABSEIL_2022) + "shr rax, 32\nxor rax, rcx\n"
# The random baseline's best in runs/compare2/hash9to16-random-seed0 (6 instructions, correct on
# the corpus): fold(lo64(hi * state) * lo), which is 0 for every string whose first word is 0.
FOUND_BY_RANDOM_SEARCH = """
    mov rax, qword ptr [rdi+rsi-8]
    mov rcx, qword ptr [rdi]
    mul rdx
    add rdx, rax
    mul rcx
    xor rax, rdx
"""


@pytest.fixture(scope="module")
def task():
    return games.task("hash9to16")


def _failing(verdict: Verdict) -> set:
    return {(f.name, c.metric) for f in verdict.families for c in f.checks if not c.passed}


def test_battery_is_fixed_and_covers_every_family_length_and_difference(task):
    inputs, lengths, families = build()
    again = build()
    assert np.array_equal(inputs.memory, again[0].memory) and np.array_equal(inputs.registers, again[0].registers)
    assert [f.name for f in families] == [name for name, _ in FAMILIES] + ["all"]
    assert len(inputs) > 5000 and len(families[-1].keys) > 5000 and len(families[-1].pairs) > 5000
    for family in families:
        if family.name not in ("words", "state sweep"):  # swapped words: length 16; the sweep: 3 keys
            assert set(lengths[family.rows].tolist()) == set(range(9, 17)), family.name
    one_bit = {f.name: f for f in families}["one bit"]
    a, b = one_bit.pairs.T
    assert (lengths[a] != lengths[b]).sum() > 50  # lengths one bit apart
    states = inputs.registers[:, 2]
    assert (states[a] != states[b]).sum() > 400
    differ = np.unpackbits((states[a] ^ states[b]).view(np.uint8)).reshape(len(a), 64).sum(axis=1)
    assert set(differ.tolist()) == {0, 1}


@pytest.mark.parametrize("program, model", [(ABSEIL_2022, abseil_2022), (ABSEIL_2023, abseil_2023)])
def test_abseil_references_pass_on_unicorn(task, program, model):
    battery = task.battery
    results, faults = battery.results(program, "unicorn")
    memory, lengths = battery.inputs.memory, battery.inputs.registers[:, 6]
    states = battery.inputs.registers[:, 2]
    assert not any(faults)
    assert results.tolist() == [model(bytes(m[:n]), int(s)) for m, n, s in zip(memory, lengths, states)]
    verdict = battery.run(program, "unicorn")
    assert verdict.passed and verdict.reason is None, verdict.reason
    assert len(verdict.lines()) == len(FAMILIES) + 1


def test_a_random_function_passes(task):
    """The thresholds leave room for an ideal hash: random results on the battery pass."""
    battery = task.battery
    for seed in range(20):
        results = np.random.default_rng(seed).integers(0, 2**64, len(battery.inputs), dtype=np.uint64)
        for family, allowed in zip(battery.families, battery.allowed()):
            found = figures(results, family)
            assert np.all(np.isnan(found) | (found <= allowed)), (seed, family.name)


@pytest.mark.parametrize("text, failing, passing", [
    (NO_MULTIPLY, {("one bit", "avalanche bias"), ("one bit", "low 32 bits collisions")}, set()),
    (SYMMETRIC, {("words", "high 32 bits collisions"), ("words", "avalanche bias")},
     {("cyclic", "low 32 bits collisions")}),
    (HIGH_HALF_UNMIXED, {("state sweep", "high 32 bits collisions"), ("one bit", "worst output bit bias")},
     {("state sweep", "low 32 bits collisions"), ("one bit", "low 32 bits collisions")}),
    (FOUND_BY_RANDOM_SEARCH, {("zero-heavy", "low 32 bits collisions"), ("sparse", "avalanche bias")},
     {("one bit", "avalanche bias"), ("two bits", "avalanche bias")}),
], ids=["no multiply", "symmetric in the words", "high half unmixed", "found by random search"])
def test_weak_mixes_fail_the_battery_for_the_right_reason(task, text, failing, passing):
    program = isa.parse(text)
    assert all(i in task.vocabulary for i in program.instructions)
    verdict = task.battery.run(program, "unicorn")
    assert not verdict.passed
    assert failing <= _failing(verdict) and not passing & _failing(verdict), sorted(_failing(verdict))
    failed = [(f.name, c) for f in verdict.families for c in f.checks if not c.passed]
    name, worst = max(failed, key=lambda fc: fc[1].value / fc[1].allowed)
    assert verdict.reason == f"{name}: {worst.text()} (and {len(failed) - 1} more failing figures)"


def test_the_corpus_passes_a_weak_hash_that_the_battery_fails(task):
    program = isa.parse(FOUND_BY_RANDOM_SEARCH)
    assert task.score(program, cycles=False).correct
    for weak in (NO_MULTIPLY, SYMMETRIC, HIGH_HALF_UNMIXED):  # these the corpus catches too
        assert not task.score(isa.parse(weak), cycles=False).correct


def test_random_function_collision_statistics():
    for n, bits in ((300, 8), (800, 16), (5000, 32)):
        mean, sd = _collisions(n, bits)
        assert mean == pytest.approx(expected_collisions(n, bits), rel=1e-9, abs=1e-12)
        draws = np.random.default_rng(0).integers(0, 2**bits, (400, n), dtype=np.uint64)
        counts = [n - len(np.unique(d)) for d in draws]
        assert np.mean(counts) == pytest.approx(mean, rel=0.1, abs=0.02)
        assert np.std(counts) == pytest.approx(sd, rel=0.15, abs=0.05)


def test_verdict_round_trips_and_names_the_first_failure(task):
    verdict = task.battery.run(isa.parse(SYMMETRIC), "native", single_step=False)
    data = verdict.to_dict()
    assert data["passed"] is False and data["reason"] == verdict.reason
    assert Verdict.from_dict(data) == verdict
    assert len(METRICS) == len(verdict.families[0].checks)
