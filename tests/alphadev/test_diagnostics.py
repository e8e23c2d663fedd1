"""The learning diagnostics: held-out positions of a fresh trajectory and the greedy policy."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import games
from alphadev import networks as N
from alphadev.diagnostics import Probe, _spearman, make_greedy, returns_to_go
from alphadev.replay import Replay, observe_moves
from alphadev.search import Search, SearchConfig
from alphadev.selfplay import make_selfplay

NET = N.NetConfig(dim=16, layers=1, heads=2)


@pytest.fixture(scope="module")
def setup():
    game = games.make("sort2")
    net, observer = N.make(game, NET)
    params = N.init(net, observer, game, jax.random.PRNGKey(0))
    search = Search(game, net, observer, net_config=NET, config=SearchConfig(simulations=8, max_considered_actions=8))
    play = make_selfplay(game, search, 8)
    # Half the episodes start from a two-move prefix, as the archive's cells do.
    starts = np.full((8, game.max_moves), -1, np.int32)
    starts[:4, :2] = game.moves_for(games.task("sort2").references[0].program)[:2]
    traj = play(params, jax.random.PRNGKey(1), starts)
    return game, net, observer, params, search, traj


def test_positions_reach_the_state_each_move_was_played_in(setup):
    game, net, observer, params, search, traj = setup
    probe = Probe(game, net, observer, NET, samples=20, seed=0)
    pos = probe.positions(traj)
    assert len(pos["played"]) == 20
    states = jax.jit(jax.vmap(game.from_moves))(jnp.asarray(pos["prefixes"]))
    legal = np.asarray(states.legal_action_mask)
    assert not np.asarray(states.terminated).any()
    assert legal[np.arange(20), pos["played"]].all()
    np.testing.assert_allclose(pos["policy"].sum(-1), 1.0, rtol=1e-5)
    assert not pos["policy"][~legal].any()


def test_returns_to_go_are_the_replays_monte_carlo_targets(setup):
    game, net, observer, params, search, traj = setup
    replay = Replay(16, observe_moves(game, observer))
    replay.add(traj)
    np.testing.assert_allclose(returns_to_go(traj), replay.data["returns"][:8], atol=1e-5)


def test_probe_figures_match_a_direct_computation(setup):
    game, net, observer, params, search, traj = setup
    probe = Probe(game, net, observer, NET, samples=64, top_k=2, seed=3)
    figures = probe(params, traj)
    pos = Probe(game, net, observer, NET, samples=64, top_k=2, seed=3).positions(traj)
    states = jax.jit(jax.vmap(game.from_moves))(jnp.asarray(pos["prefixes"]))
    root = jax.jit(search.root)(params, states)  # the prior the search starts from
    prior = np.asarray(root.prior_logits)
    assert figures["prior_agrees"] == pytest.approx(np.mean(prior.argmax(-1) == pos["policy"].argmax(-1)))
    top2 = np.argsort(-prior, axis=-1)[:, :2]
    assert figures["played_in_top2"] == pytest.approx(np.mean((top2 == pos["played"][:, None]).any(-1)))
    heads = np.asarray(jax.jit(search.head_values)(params, states))
    assert figures["correctness_value_error"] == pytest.approx(np.mean(np.abs(heads[:, 0] - pos["returns"][:, 0])),
                                                               rel=1e-4)
    assert figures["search_entropy"] >= 0 and figures["prior_cross_entropy"] >= figures["search_entropy"] - 1e-4


def test_spearman_is_undefined_for_constant_values():
    assert np.isnan(_spearman(np.ones(5), np.arange(5.0)))
    assert _spearman(np.arange(5.0), np.arange(5.0) ** 2) == pytest.approx(1.0)
    assert _spearman(np.arange(5.0), -np.arange(5.0)) == pytest.approx(-1.0)


def test_greedy_plays_the_priors_argmax_until_the_episode_ends(setup):
    game, net, observer, params, search, traj = setup
    result = make_greedy(game, net, observer)(params)
    prior = jax.jit(lambda state: search.root(params, jax.tree_util.tree_map(lambda x: x[None], state)).prior_logits[0])
    step = jax.jit(game.step)
    state = jax.jit(game.init)()
    while not bool(state.terminated):
        state = step(state, jnp.int32(np.argmax(np.asarray(prior(state)))))
    assert result.program == game.program(state)
    assert result.correct == bool(state.correct) and result.items == pytest.approx(float(state.items))
