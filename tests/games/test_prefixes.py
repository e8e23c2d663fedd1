"""`Game.from_moves` (episodes that start from a prefix) and `Game.fingerprint` (deduplication)."""
import jax
import jax.numpy as jnp
import numpy as np

import games
import isa
from games.sort import VARSORT3_BRANCHY, sorting_network


def _moves(game, program):
    return game.moves_for(isa.parse(program) if isinstance(program, str) else program)


def _padded(game, moves):
    row = np.full(game.max_moves, -1, np.int32)
    row[: len(moves)] = moves
    return jnp.asarray(row)


def test_from_moves_is_the_state_the_moves_reach():
    for name in ("sort3", "varsort3"):
        game = games.make(name)
        moves = _moves(game, sorting_network(3) if name == "sort3" else VARSORT3_BRANCHY)
        init, step, from_moves = jax.jit(game.init), jax.jit(game.step), jax.jit(game.from_moves)
        for cut in (0, 5, len(moves) - 1):
            state = init()
            for a in moves[:cut]:
                state = step(state, jnp.int32(a))
            replayed = from_moves(_padded(game, moves[:cut]))
            for a, b in zip(jax.tree_util.tree_leaves(state), jax.tree_util.tree_leaves(replayed), strict=True):
                np.testing.assert_allclose(np.asarray(a, np.float64), np.asarray(b, np.float64), atol=1e-6)


def test_fingerprints_tell_states_apart_but_not_the_paths_to_them():
    game = games.make("sort3")
    fp, from_moves = jax.jit(game.fingerprint), jax.jit(game.from_moves)
    loads = "mov eax, dword ptr [rdi]\nmov ecx, dword ptr [rdi+4]\n"
    direct = from_moves(_padded(game, _moves(game, loads + "mov edx, ecx")))
    detour = from_moves(_padded(game, _moves(game, loads + "mov edx, eax\nmov edx, ecx")))
    other = from_moves(_padded(game, _moves(game, loads + "mov edx, eax")))
    assert int(direct.length) != int(detour.length)
    np.testing.assert_array_equal(fp(direct), fp(detour))
    assert not np.array_equal(fp(direct), fp(other))
    # Flags matter (a cmov reads them): the same registers after a compare are another state.
    compared = from_moves(_padded(game, _moves(game, loads + "mov edx, ecx\ncmp eax, ecx")))
    assert not np.array_equal(fp(direct), fp(compared))
