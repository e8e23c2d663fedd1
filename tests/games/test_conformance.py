"""One conformance test, run against every registered game (pgx style)."""
import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import games
from tests.games.rules import violations

ROLLOUTS = 6


@functools.lru_cache(maxsize=None)
def _game(name, shaping=0.0):
    return games.make(name, shaping_weight=shaping) if shaping else games.make(name)


@functools.lru_cache(maxsize=None)
def _rollout_fn(name, shaping=0.0):
    game = _game(name, shaping)

    def rollout(key):
        def body(carry, key):
            state = carry
            logits = jnp.where(state.legal_action_mask, 0.0, -jnp.inf)
            action = jax.random.categorical(key, jnp.where(state.terminated, 0.0, logits))
            nxt = game.step(state, action.astype(jnp.int32))
            return nxt, (nxt.rewards, nxt.terminated)
        keys = jax.random.split(key, game.max_moves)
        final, (rewards, _) = jax.lax.scan(body, game.init(), keys)
        return final, rewards

    return jax.jit(jax.vmap(rollout))


CASES = [(name, 0.0) for name in games.names()] + [("sort3", 1.0), ("varsort3", 1.0)]


@pytest.mark.parametrize("name, shaping", CASES)
def test_game_conformance(name, shaping):
    game = _game(name, shaping)
    finals, rewards = _rollout_fn(name, shaping)(jax.random.split(jax.random.PRNGKey(0), ROLLOUTS))
    finals, rewards = jax.device_get((finals, rewards))
    assert np.isfinite(rewards).all() and np.isfinite(finals.items).all()
    assert finals.terminated.all(), "every rollout ends within max_moves"
    initial = game.init()
    cfg = game.config
    for b in range(ROLLOUTS):
        state = jax.tree_util.tree_map(lambda x, b=b: x[b], finals)
        moves = [int(a) for a in state.moves[: int(state.n_moves)]]
        assert not violations(game, moves), violations(game, moves)
        # Terminal states agree with Unicorn (confirm raises on any disagreement).
        score = game.confirm(state)
        # The rewards of the episode add up to what the score of the finished program says.
        latency = score.length if cfg.latency == "length" else score.executed
        # Shaping sums to -weight x the initial potential whatever the episode.
        expected = cfg.correctness_weight * (score.items - float(initial.items)) - shaping * cfg.correctness_weight * float(initial.potential)
        if score.correct:
            expected += cfg.correct_bonus - cfg.latency_weight * latency / (cfg.latency_scale or cfg.max_length)
        assert rewards[b].sum() == pytest.approx(expected, abs=1e-4)


# Every prefix of a correct program is also a check that `Rules.end_lost` never ends a live one.
@pytest.mark.parametrize("name", ["sort3", "sort4", "sort5", "varsort3"])
def test_reference_replays_to_a_correct_terminal_state(name):
    from games.references import references
    game = _game(name)
    step = jax.jit(game.step)
    for ref_name, (ref_game, program) in references().items():
        if ref_game != name:
            continue
        state, total = game.init(), 0.0
        for a in game.moves_for(program):
            if bool(state.terminated):
                break
            assert bool(state.legal_action_mask[a]), f"{ref_name}: move {game.task.vocabulary[a]} masked"
            state = step(state, jnp.int32(a))
            total += float(state.rewards)
        assert bool(state.correct) and bool(state.terminated)
        assert game.program(state) == program
        assert game.confirm(state).correct


def test_init_and_step_batch_with_vmap():
    game = _game("sort3")
    states = jax.vmap(lambda k: game.init(k))(jax.random.split(jax.random.PRNGKey(1), 3))
    assert states.legal_action_mask.shape == (3, game.num_actions)
    first = jnp.argmax(states.legal_action_mask, axis=1).astype(jnp.int32)
    nxt = jax.jit(jax.vmap(game.step))(states, first)
    assert (nxt.length == 1).all()


def test_action_machine_code_is_encoded_once_and_matches_the_assembler():
    import isa
    from games.references import VARSORT3_BRANCHY
    game = _game("varsort3")
    straight = [i for i in VARSORT3_BRANCHY if i.target is None]
    index = {item: k for k, item in enumerate(game.task.vocabulary)}
    assert b"".join(game.action_bytes[index[i]] for i in straight) == isa.assemble(isa.Program(tuple(straight)))
    assert all(b is None for item, b in zip(game.task.vocabulary, game.action_bytes, strict=True) if not isinstance(item, isa.Instruction))


def test_make_rejects_unknown_names_and_config():
    with pytest.raises(ValueError, match="unknown game 'sort9'.*sort3"):
        games.make("sort9")
    with pytest.raises(ValueError, match="unknown game config"):
        games.make("sort3", max_lenght=5)
