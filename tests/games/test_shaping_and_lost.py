"""The sorts' shaping potential and dead-end rule (`Rules.end_lost`) on hand-made programs."""
import jax.numpy as jnp
import numpy as np
import pytest

import games
import isa
from games.references import sorting_network


def _play(game, program):
    state, trace = game.init(), []
    for a in game.moves_for(isa.parse(program) if isinstance(program, str) else program):
        assert not bool(state.terminated)
        state = game.step(state, jnp.int32(a))
        trace.append(state)
    return state, trace


def test_a_destroyed_value_ends_the_episode():
    game = games.make("sort3")
    # eax = max(b, a) overwrites b where b < a: the minimum is gone for (2, 1, 3).
    state, _ = _play(game, "mov eax, dword ptr [rdi+4]\nmov ecx, dword ptr [rdi]\ncmp eax, ecx")
    assert not bool(state.terminated)
    end = game.step(state, jnp.int32(game.moves_for(isa.parse("cmovl eax, ecx"))[0]))
    assert bool(end.terminated) and not bool(end.correct)


def test_a_store_before_every_slot_is_read_ends_the_episode():
    game = games.make("sort3")
    state, _ = _play(game, "mov eax, dword ptr [rdi]\nmov ecx, dword ptr [rdi+4]")
    store = game.moves_for(isa.parse("mov dword ptr [rdi], eax"))[0]
    # Slot 2 can no longer be loaded, and no register holds its value.
    assert bool(game.step(state, jnp.int32(store)).terminated)
    off = games.make("sort3", rules=games.Rules(end_lost=False))
    state, _ = _play(off, "mov eax, dword ptr [rdi]\nmov ecx, dword ptr [rdi+4]")
    assert not bool(off.step(state, jnp.int32(store)).terminated)


@pytest.mark.parametrize("n", [2, 3, 4])
def test_storing_what_was_computed_earns_nothing_with_shaping(n):
    game = games.make(f"sort{n}", shaping_weight=1.0)
    final, trace = _play(game, sorting_network(n))
    assert bool(final.correct)
    stores = [s for s in trace if bool(s.stored.any())]
    # Every store but the last one moves its value from the potential to the items.
    np.testing.assert_allclose([float(s.rewards) for s in stores[:-1]], 0.0, atol=1e-6)
    # Once sorted in registers, the potential holds all that the stores will add.
    before = trace[-n - 1]
    assert float(before.potential) == pytest.approx(1.0 - float(before.items), abs=1e-6)


def test_potential_rises_as_a_compare_swap_completes():
    game = games.make("sort2", shaping_weight=1.0)
    _, trace = _play(game, sorting_network(2))
    potentials = [float(s.potential) for s in trace[:-2]]
    assert potentials[0] == 0.0 and potentials[-1] > 0.0
    assert all(b >= a - 1e-6 for a, b in zip(potentials, potentials[1:]))


def test_the_last_instructions_are_kept_for_the_stores_still_needed():
    game = games.make("sort3", max_length=6)
    state, _ = _play(game, "mov eax, dword ptr [rdi]\nmov ecx, dword ptr [rdi+4]\nmov edx, dword ptr [rdi+8]")
    legal = np.flatnonzero(np.asarray(state.legal_action_mask))
    # Three instructions left and three slots to store: only stores are legal.
    assert len(legal) and all(game.table.store_slot[a] >= 0 for a in legal)
    off = games.make("sort3", max_length=6, rules=games.Rules(room_for_stores=False))
    state, _ = _play(off, "mov eax, dword ptr [rdi]\nmov ecx, dword ptr [rdi+4]\nmov edx, dword ptr [rdi+8]")
    assert any(off.table.store_slot[a] < 0 for a in np.flatnonzero(np.asarray(state.legal_action_mask)))


@pytest.mark.parametrize("ref", ["sort3_network", "sort4_network", "varsort3_branchy"])
def test_a_reference_fits_a_limit_of_exactly_its_length(ref):
    # The rule prunes only dead ends: a correct program is playable with no instruction to spare.
    from games.references import references
    name, program = references()[ref]
    game = games.make(name, max_length=len(program.instructions))
    state = game.init()
    for a in game.moves_for(program):
        if bool(state.terminated):  # varsort3's is correct before its last label
            break
        assert bool(state.legal_action_mask[a]), f"{ref}: move {game.task.vocabulary[a]} masked"
        state = game.step(state, jnp.int32(a))
    assert bool(state.correct)
