"""The hash task: corpus, references, quality judgement."""
import numpy as np
import pytest

import games
import isa
from games.hash import ABSEIL_2022, ABSEIL_2023, abseil_2022, abseil_2023, corpus


@pytest.fixture(scope="module")
def task():
    return games.task("hash9to16")


REFERENCES = [(ABSEIL_2022, abseil_2022), (ABSEIL_2023, abseil_2023)]


# Both programs in one test per backend: on the JAX machine the first program's runs compile
# what the second one reuses.
@pytest.mark.parametrize("backend", ["unicorn", "jax", "native"])
def test_references_compute_abseils_hash_and_pass(task, backend):
    strings, states, _ = corpus()
    for program, model in REFERENCES:
        run = isa.execute(program, task.inputs, backend)
        want = [model(s, int(st)) for s, st in zip(strings, states, strict=True)]
        assert run.registers[:, 0].tolist() == want, model.__name__
        if backend != "jax":  # below
            assert task.score(program, backend, cycles=False).correct, model.__name__


# `score` runs each string length in a data region of its own size: on the JAX machine, 8
# compilations. By default, the game judges both references on the JAX
# machine and Unicorn agrees (tests/games/test_conformance.py).
@pytest.mark.slow
def test_references_pass_on_the_jax_machine(task):
    for program, model in REFERENCES:
        assert task.score(program, "jax", cycles=False).correct, model.__name__


def test_corpus_is_fixed_and_covers_every_length(task):
    assert len(task.inputs) == 324
    assert sorted(set(task.lengths.tolist())) == list(range(9, 17))
    a, b = corpus(), corpus()
    assert a[0] == b[0] and np.array_equal(a[1], b[1])


@pytest.mark.parametrize("text, problem", [
    ("mov rax, qword ptr [rdi]", "collisions"),                           # ignores hi, len, state
    (isa.to_text(ABSEIL_2022).replace("mul r8\nxor rax, rdx\nadd", "add"), "collisions"),  # one mix dropped
    ("mov rax, qword ptr [rdi+8]", "bad memory access"),                  # reads past a short string
])
def test_weak_or_unsafe_hashes_are_incorrect_with_a_reason(task, text, problem):
    score = task.score(isa.parse(text), cycles=False)
    assert not score.correct and problem in score.reason


def test_one_multiply_hash_is_estimated_faster(task):
    assert task.score(ABSEIL_2023).cycles < task.score(ABSEIL_2022).cycles
