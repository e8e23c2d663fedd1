"""The Gymnasium adapter: Gymnasium's own checker, the mask, the illegal-move policy, and a
reference program played through it."""
import numpy as np
import pytest

gymnasium = pytest.importorskip("gymnasium")

import games  # noqa: E402
import isa  # noqa: E402
from games import gym as G  # noqa: E402
from games.sort import sorting_network  # noqa: E402


@pytest.fixture(scope="module")
def env():
    return G.make("sort2")


def test_gymnasium_check_env_passes(env):
    from gymnasium.utils.env_checker import check_env
    check_env(env, skip_render_check=True)


def test_registered_ids_make_the_same_game():
    env = gymnasium.make("alphadev/sort2-v0")
    assert env.unwrapped.game.task.name == "sort2"
    assert "alphadev/sort3-v0" in G.register_all()


def test_a_reference_played_through_the_env_is_correct_and_returns_what_the_game_pays():
    game = games.make("sort3")
    env = G.GameEnv(game, render_mode="ansi")
    program = sorting_network(3)
    obs, info = env.reset(seed=0)
    assert env.observation_space.contains(obs)
    total, steps = 0.0, 0
    for move in game.moves_for(program):
        assert info["action_mask"][move] == 1
        obs, reward, terminated, truncated, info = env.step(move)
        total, steps = total + reward, steps + 1
        assert not truncated
    assert terminated and info["correct"] and info["items"] == 1.0
    assert env.render() == isa.to_text(program)
    # The same moves through the pure game pay the same return.
    state = game.init()
    expected = 0.0
    for move in game.moves_for(program):
        state = game.step(state, np.int32(move))
        expected += float(state.rewards)
    assert total == pytest.approx(expected, abs=1e-5)
    assert obs["length"][0] == len(program)


def test_an_illegal_move_ends_the_episode_or_raises(env):
    _, info = env.reset()
    illegal = int(np.flatnonzero(info["action_mask"] == 0)[0])
    before = env.state
    obs, reward, terminated, truncated, info = env.step(illegal)
    assert terminated and not truncated and info["illegal"] and reward == -1.0
    assert env.state is before
    with pytest.raises(RuntimeError, match="reset"):
        env.step(0)
    strict = G.make("sort2", illegal="raise")
    strict.reset()
    with pytest.raises(ValueError, match="illegal"):
        strict.step(illegal)


def test_bad_options_are_one_line_errors():
    with pytest.raises(ValueError, match="illegal must be"):
        G.make("sort2", illegal="ignore")
    with pytest.raises(ValueError, match="unknown game"):
        G.make("sort99")


def test_the_pgx_view_batches_under_vmap_and_pays_what_the_game_pays():
    import jax
    import jax.numpy as jnp
    from games.pgx_view import PgxView
    game = games.make("sort2")
    env = PgxView(game)
    init, step = jax.jit(jax.vmap(env.init)), jax.jit(jax.vmap(env.step))
    state = init(jax.random.split(jax.random.PRNGKey(0), 3))
    assert state.rewards.shape == (3, 1) and state.current_player.tolist() == [0, 0, 0]
    assert state.observation.shape == (3, env.observe(env.init(None)).shape[0])
    moves = game.moves_for(games.task("sort2").references[0].program)
    total = np.zeros(3)
    for move in moves:
        state = step(state, jnp.full(3, move, jnp.int32))
        total += np.asarray(state.rewards[:, 0])
    assert np.asarray(state.terminated).all() and not np.asarray(state.truncated).any()
    assert state._step_count.tolist() == [len(moves)] * 3
    after = step(state, jnp.zeros(3, jnp.int32))  # a terminated state is absorbing
    assert not np.asarray(after.rewards).any() and after._step_count.tolist() == [len(moves)] * 3
    plain, expected = game.init(), 0.0
    for move in moves:
        plain = game.step(plain, jnp.int32(move))
        expected += float(plain.rewards)
    assert bool(plain.correct) and np.allclose(total, expected, atol=1e-5)
