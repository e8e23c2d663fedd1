"""The sorts' shaping potential and dead-end rule (`Rules.end_lost`) on hand-made programs."""
import functools
from itertools import pairwise

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import games
import isa
from games.sort import NETWORKS, sorting_network


_GAMES = {}


def _make(name, **config):
    """games.make, one Game per configuration: the tests share its compiled init, step and
    information functions (seconds of compilation each)."""
    key = (name, repr(sorted(config.items())))
    if key not in _GAMES:
        _GAMES[key] = games.make(name, **config)
    return _GAMES[key]


@functools.lru_cache(maxsize=None)
def _jitted(game):
    # Eagerly, init and step compile their ops one at a time: seconds per game.
    return jax.jit(game.init), jax.jit(game.step)


@functools.lru_cache(maxsize=None)
def _information_fn(game, flags):
    potential = game.task.potentials["flag_information" if flags else "information"]
    return jax.jit(lambda s: potential(s.machine, s.loaded, s.stored))


def _information(game, state, flags=False):
    """The task's information term of a state (jitted: eagerly, each call dispatches its ops one by one)."""
    return float(_information_fn(game, flags)(state))


def _init(game):
    return _jitted(game)[0]()


def _step(game, state, action):
    return _jitted(game)[1](state, jnp.int32(action))


def _play(game, program):
    state, trace = _init(game), []
    for a in game.moves_for(isa.parse(program) if isinstance(program, str) else program):
        assert not bool(state.terminated)
        state = _step(game, state, a)
        trace.append(state)
    return state, trace


def test_a_destroyed_value_ends_the_episode():
    game = _make("sort3")
    # eax = max(b, a) overwrites b where b < a: the minimum is gone for (2, 1, 3).
    state, _ = _play(game, "mov eax, dword ptr [rdi+4]\nmov ecx, dword ptr [rdi]\ncmp eax, ecx")
    assert not bool(state.terminated)
    end = _step(game, state, game.moves_for(isa.parse("cmovl eax, ecx"))[0])
    assert bool(end.terminated) and not bool(end.correct)


def test_a_store_before_every_slot_is_read_ends_the_episode():
    game = _make("sort3")
    state, _ = _play(game, "mov eax, dword ptr [rdi]\nmov ecx, dword ptr [rdi+4]")
    store = game.moves_for(isa.parse("mov dword ptr [rdi], eax"))[0]
    # Slot 2 can no longer be loaded, and no register holds its value.
    assert bool(_step(game, state, store).terminated)
    off = _make("sort3", rules=games.Rules(end_lost=False))
    state, _ = _play(off, "mov eax, dword ptr [rdi]\nmov ecx, dword ptr [rdi+4]")
    assert not bool(_step(off, state, store).terminated)


@pytest.mark.parametrize("n", [2, 3, 4])
def test_storing_what_was_computed_earns_nothing_with_shaping(n):
    game = _make(f"sort{n}")
    final, trace = _play(game, sorting_network(n))
    assert bool(final.correct)
    stores = [s for s in trace if bool(s.stored.any())]
    # Every store but the last one moves its value from the potential to the items.
    np.testing.assert_allclose([float(s.rewards) for s in stores[:-1]], 0.0, atol=1e-6)
    # Once sorted in registers, the potential holds all that the stores will add.
    before = trace[-n - 1]
    assert float(before.potential) == pytest.approx(1.0 - float(before.items), abs=1e-6)


def test_potential_rises_as_a_compare_swap_completes():
    game = _make("sort2")
    _, trace = _play(game, sorting_network(2))
    potentials = [float(s.potential) for s in trace[:-2]]
    assert potentials[0] == 0.0 and potentials[-1] > 0.0
    assert all(b >= a - 1e-6 for a, b in pairwise(potentials))


def test_the_last_instructions_are_kept_for_the_stores_still_needed():
    game = _make("sort3", max_length=6)
    state, _ = _play(game, "mov eax, dword ptr [rdi]\nmov ecx, dword ptr [rdi+4]\nmov edx, dword ptr [rdi+8]")
    legal = np.flatnonzero(np.asarray(state.legal_action_mask))
    # Three instructions left and three slots to store: only stores are legal.
    assert len(legal) and all(game.table.store_slot[a] >= 0 for a in legal)
    off = _make("sort3", max_length=6, rules=games.Rules(room_for_stores=False))
    state, _ = _play(off, "mov eax, dword ptr [rdi]\nmov ecx, dword ptr [rdi+4]\nmov edx, dword ptr [rdi+8]")
    assert any(off.table.store_slot[a] < 0 for a in np.flatnonzero(np.asarray(state.legal_action_mask)))


@pytest.mark.parametrize("ref", ["sort3", "sort4", "varsort3", "varsort4"])
def test_a_reference_fits_a_limit_of_exactly_its_length(ref):
    # The rule prunes only dead ends: a correct program is playable with no instruction to spare.
    program = games.task(ref).references[0].program
    game = _make(ref, max_length=len(program.instructions))
    state = _init(game)
    for a in game.moves_for(program):
        if bool(state.terminated):  # a varsort's is correct before its last label
            break
        assert bool(state.legal_action_mask[a]), f"{ref}: move {game.task.vocabulary[a]} masked"
        state = _step(game, state, a)
    assert bool(state.correct)


def test_a_slot_stored_wrong_ends_the_episode():
    # Each slot is stored once, so a wrong store is final: storing an unsorted value, or one
    # register into two slots (which the shaping potential used to score as progress).
    game = _make("sort2", rules={"end_stored_wrong": True})
    loads = "mov eax, dword ptr [rdi]\nmov ecx, dword ptr [rdi+4]\n"
    state, _ = _play(game, loads)
    assert bool(_step(game, state, game.moves_for(isa.parse("mov dword ptr [rdi], eax"))[0]).terminated)
    state, _ = _play(game, loads + "mov edx, eax\ncmp eax, ecx\ncmovg eax, ecx\ncmovg ecx, edx\nmov dword ptr [rdi], eax")
    assert not bool(state.terminated)
    twice = _step(game, state, game.moves_for(isa.parse("mov dword ptr [rdi+4], eax"))[0])
    assert bool(twice.terminated) and not bool(twice.correct)
    off = _make("sort2")  # off by default
    state, _ = _play(off, loads)
    assert not bool(_step(off, state, off.moves_for(isa.parse("mov dword ptr [rdi], eax"))[0]).terminated)


@pytest.mark.parametrize("n", [3, 4, 5])
def test_loads_in_order_leaves_one_move_until_all_are_loaded_and_the_references_play(n):
    # With the optional rules on, the references are still playable (no rule ends them early).
    game = _make(f"sort{n}", rules={"loads_in_order": True, "end_stored_wrong": True})
    final, trace = _play(game, sorting_network(n))
    assert bool(final.correct)
    for k, state in enumerate([_init(game), *trace[: n - 1]]):
        legal = np.flatnonzero(np.asarray(state.legal_action_mask))
        assert len(legal) == 1 and game.table.load_slot[legal[0]] == k
    assert np.asarray(trace[n - 1].legal_action_mask).sum() > 1


def test_a_bad_rule_name_or_an_unsupported_potential_is_a_one_line_error():
    with pytest.raises(ValueError, match="unknown rule.*loads_in_ordr"):
        games.make("sort3", rules={"loads_in_ordr": True})
    with pytest.raises(ValueError, match="varsort3 defines no potential 'information'"):
        games.make("varsort3", shaping={"registers": 1.0, "information": 0.5})
    with pytest.raises(ValueError, match="loads_in_order: varsort3 must branch before it loads"):
        games.make("varsort3", rules={"loads_in_order": True})


def test_a_rule_without_its_preconditions_is_a_one_line_error_not_dropped():
    with pytest.raises(ValueError, match="end_stored_wrong needs write_once"):
        games.make("sort3", rules={"end_stored_wrong": True, "write_once": False})
    with pytest.raises(ValueError, match="end_lost needs read_once, loads_first"):
        games.make("sort3", rules={"read_once": False, "loads_first": False})
    with pytest.raises(ValueError, match="end_lost: hash9to16 defines no lost"):
        games.make("hash9to16", rules={"end_lost": True})
    with pytest.raises(ValueError, match="room_for_stores: hash9to16 defines no stores_needed"):
        games.make("hash9to16", rules={"room_for_stores": True})


@pytest.mark.parametrize("n", [3, 4, 5])
def test_information_rises_by_compare_swap_and_is_whole_when_sorted(n):
    game = _make(f"sort{n}")
    info = lambda s: _information(game, s)
    final, trace = _play(game, sorting_network(n))
    values = [info(_init(game))] + [info(s) for s in trace[:-1]]  # the last state is terminal
    assert values[0] == 0.0 and values[-1] == pytest.approx(1.0)
    assert all(b >= a - 1e-6 for a, b in pairwise(values))
    # Loads and the three moves before each swap completes gain nothing; each compare-swap gains.
    swaps = len(NETWORKS[n])
    steps = np.diff(values[n: n + 4 * swaps + 1][::4])
    assert len(steps) == swaps and (steps > 0).all()


def test_information_counts_only_choices_that_hold_every_value():
    # eax = min(a, b) with b's copy overwritten: no choice of places holds each value once.
    game = _make("sort2")
    info = lambda s: _information(game, s)
    state, _ = _play(game, "mov eax, dword ptr [rdi]\nmov ecx, dword ptr [rdi+4]\ncmp eax, ecx")
    off = _make("sort2", rules=games.Rules(end_lost=False))
    lossy, _ = _play(off, "mov eax, dword ptr [rdi]\nmov ecx, dword ptr [rdi+4]\ncmp eax, ecx\ncmovg eax, ecx")
    assert info(state) == 0.0 and info(lossy) == 0.0


def test_information_joins_the_potential_and_still_telescopes():
    plain = _make("sort4")
    both = _make("sort4", shaping={"registers": 1.0, "information": 0.6})
    program = sorting_network(4)
    (a, ta), (b, tb) = _play(plain, program), _play(both, program)
    assert bool(a.correct) and bool(b.correct)
    assert sum(float(s.rewards) for s in ta) == pytest.approx(sum(float(s.rewards) for s in tb), abs=1e-5)
    mid = 4 + 4 * 2  # two compare-swaps done
    assert float(jax.jit(both.earned)(tb[mid - 1])) > float(jax.jit(plain.earned)(ta[mid - 1]))


@pytest.mark.parametrize("n", [3, 4, 5])
def test_information_with_flags_gains_at_each_compare(n):
    game = _make(f"sort{n}")
    plain = lambda s: _information(game, s)
    flags = lambda s: _information(game, s, flags=True)
    program = sorting_network(n)
    _, trace = _play(game, program)
    states = [_init(game)] + trace[:-1]
    mnemonics = [None] + [i.mnemonic for i in program.instructions[: len(states) - 1]]
    with_flags = [flags(s) for s in states]
    assert with_flags[0] == 0.0 and with_flags[-1] == pytest.approx(1.0)
    assert all(f >= plain(s) - 1e-6 for f, s in zip(with_flags, states, strict=True))
    # Every cmp of the network gains at once; no other move changes it.
    for (before, after), mnemonic in zip(pairwise(with_flags), mnemonics[1:], strict=True):
        assert (after > before + 1e-6) == (mnemonic == "cmp"), mnemonic


def test_information_with_flags_knows_a_compared_pair():
    # sort2 after cmp: the flags tell the two orders apart, so the order is known; the
    # registers alone know nothing yet.
    game = _make("sort2")
    state, _ = _play(game, "mov eax, dword ptr [rdi]\nmov ecx, dword ptr [rdi+4]\ncmp eax, ecx")
    info = lambda flags: _information(game, state, flags)
    assert info(False) == 0.0 and info(True) == pytest.approx(1.0)


def test_information_flags_in_the_potential_still_telescopes():
    plain = _make("sort4")
    flags = _make("sort4", shaping={"registers": 1.0, "flag_information": 0.6})
    (_, ta), (b, tb) = _play(plain, sorting_network(4)), _play(flags, sorting_network(4))
    assert bool(b.correct)
    assert sum(float(s.rewards) for s in ta) == pytest.approx(sum(float(s.rewards) for s in tb), abs=1e-5)
    with pytest.raises(ValueError, match="sort4 defines no potential 'flags'"):
        games.make("sort4", shaping={"flags": 0.6})
