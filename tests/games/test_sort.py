"""Sort tasks: inputs, references, and wrong programs scored wrong with a reason."""
import numpy as np
import pytest

import games
import isa
from games.sort import VARSORT3_BRANCHY, sorting_network, tie_patterns

REFERENCES = {f"{name}: {r.label}": (name, r.program) for name in games.names() for r in games.task(name).references}


@pytest.mark.parametrize("n, count", [(2, 3), (3, 13), (4, 75), (5, 541)])
def test_tie_patterns_are_every_ordering_with_ties(n, count):
    p = tie_patterns(n)
    assert len(p) == count == len({tuple(r) for r in p})
    assert all(set(r) == set(range(1, max(r) + 1)) for r in p.tolist())


def test_large_sorts_use_a_fixed_sample():
    a, b = tie_patterns(7), tie_patterns(7)
    assert len(a) == 256 and np.array_equal(a, b)


def test_varsort_inputs_cover_every_count():
    task = games.make("varsort3").task
    assert len(task.inputs) == 17 and sorted(set(task.counts.tolist())) == [1, 2, 3]


# The hash references on the JAX machine: tests/games/test_hash.py (scoring them compiles the
# machine once per string length: a slow test).
@pytest.mark.parametrize("name, backend", [(name, backend) for backend in ("unicorn", "jax", "native")
                                           for name in REFERENCES if not (backend == "jax" and name.startswith("hash"))])
def test_references_are_correct(name, backend):
    game, program = REFERENCES[name]
    score = games.task(game).score(program, backend, cycles=False)
    assert score.correct and score.reason is None
    assert score.items == 1.0 or game == "hash9to16"  # hash items are a quality in [0, 1]


def test_reference_lengths_are_the_human_baselines():
    assert [len(sorting_network(n)) for n in (3, 4, 5)] == [18, 28, 46]


def _mutate(program, index, new_text):
    lines = isa.to_text(program).splitlines()
    body = [line for line in lines if not line.endswith(":")]
    target = body[index]
    k = lines.index(target)
    lines[k:k + 1] = [new_text] if new_text else []
    return isa.parse("\n".join(lines))


SORT3 = sorting_network(3)


@pytest.mark.parametrize("mutant", [
    _mutate(SORT3, 5, "cmovl eax, ecx"),             # a flipped cmov condition
    _mutate(SORT3, 17, ""),                           # a dropped store
    _mutate(SORT3, 4, "cmp ecx, eax"),                # a swapped compare
    _mutate(SORT3, 0, "mov eax, dword ptr [rdi+12]"),  # a read past the data region
])
def test_mutated_references_are_incorrect_with_a_reason(mutant):
    score = games.make("sort3").task.score(mutant, "unicorn", cycles=False)
    assert not score.correct and score.reason and score.n_correct < score.n_inputs


def test_a_read_outside_the_region_is_reported_as_such():
    bad = _mutate(SORT3, 0, "mov eax, dword ptr [rdi+12]")
    assert "bad memory access" in games.make("sort3").task.score(bad, cycles=False).reason


def test_varsort_touching_past_the_count_is_incorrect():
    # Sorting all three slots whatever the count writes past the buffer when n < 3.
    program = isa.parse(isa.to_text(sorting_network(3)).replace("[rdi+8]", "[rdi+12]")
                        .replace("[rdi+4]", "[rdi+8]").replace("[rdi]", "[rdi+4]"))
    score = games.make("varsort3").task.score(program, cycles=False)
    assert not score.correct and "bad memory access" in score.reason


def test_score_gives_cycles_and_executed():
    score = games.make("varsort3").task.score(VARSORT3_BRANCHY)
    assert score.cycles > 0 and score.executed < score.length


def test_varsort4_has_a_branchy_human_reference_that_each_count_runs_only_as_far_as_it_needs():
    task = games.make("varsort4").task
    (reference,) = task.references
    score = task.score(reference.program, "unicorn", cycles=False)
    assert score.correct and score.length == task.target_lengths["human"] == 38
    # Counts 1..4 run 2, 8, 21 and 38 instructions; executed is their mean over the inputs.
    assert score.executed < score.length
    assert task.c_references and "n < 4" in task.c_references[0].body
