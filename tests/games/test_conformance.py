"""One conformance test, run against every registered game (pgx style)."""
import functools

import jax
import jax.numpy as jnp
import pytest

import games
from games import conformance
from tests.games.rules import violations

EPISODES = 8


@functools.lru_cache(maxsize=None)
def _game(name, shaped=True, latency=None):
    """The game as registered (the sorts shape with their register potential), or unshaped, or
    with another latency measure."""
    overrides = ({} if shaped else {"shaping": ()}) | ({"latency": latency} if latency else {})
    return games.make(name, **overrides)


CASES = [(name, True) for name in games.names()] + [("sort3", False), ("varsort3", False)]


# Random legal rollouts, and the game's references (every prefix of a correct program is also a
# check that `Rules.end_lost` never ends a live one, and their returns are checked exactly).
@pytest.mark.parametrize("name, shaped", CASES)
def test_game_conformance(name, shaped):
    programs = [r.program for r in games.task(name).references]
    summary = conformance.check(_game(name, shaped), episodes=EPISODES, oracle=violations, programs=programs)
    assert summary.episodes == EPISODES and summary.mean_length >= 1


# The cycle model (games/cycles.py) on a straight-line and a branchy game; every game: slow.
@pytest.mark.parametrize("name", ["sort3", "varsort3"])
def test_game_conformance_with_cycles(name):
    programs = [r.program for r in games.task(name).references]
    conformance.check(_game(name, latency="cycles"), episodes=EPISODES, oracle=violations, programs=programs)


@pytest.mark.slow
@pytest.mark.parametrize("name", [n for n in games.names() if n not in ("sort3", "varsort3")])
def test_every_game_conforms_with_cycles(name):
    programs = [r.program for r in games.task(name).references]
    conformance.check(_game(name, latency="cycles"), episodes=EPISODES, oracle=violations, programs=programs)


class _NoRules(games.Game):
    """A broken game: its mask allows every move."""
    def init(self, key=None):
        return super().init(key).replace(legal_action_mask=jnp.ones(self.num_actions, bool))

    def step(self, state, action):
        nxt = super().step(state, action)
        return nxt.replace(legal_action_mask=jnp.where(nxt.terminated, nxt.legal_action_mask, True))


class _Generous(games.Game):
    """A broken game: every move earns a little extra."""
    def step(self, state, action):
        nxt = super().step(state, action)
        return nxt.replace(rewards=jnp.where(state.terminated, nxt.rewards, nxt.rewards + 0.01))


@pytest.mark.parametrize("broken, message", [(_NoRules, "breaks a rule"), (_Generous, "rewards sum to")])
def test_conformance_catches_a_broken_game(broken, message):
    game = _game("sort2")
    with pytest.raises(AssertionError, match=message):
        conformance.check(broken(game.task, game.config), episodes=2, oracle=violations)


def test_init_and_step_batch_with_vmap():
    game = _game("sort3")
    states = jax.jit(jax.vmap(game.init))(jax.random.split(jax.random.PRNGKey(1), 3))
    assert states.legal_action_mask.shape == (3, game.num_actions)
    first = jnp.argmax(states.legal_action_mask, axis=1).astype(jnp.int32)
    nxt = jax.jit(jax.vmap(game.step))(states, first)
    assert (nxt.length == 1).all()


def test_action_machine_code_is_encoded_once_and_matches_the_assembler():
    import isa
    from games.sort import VARSORT3_BRANCHY
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


def test_a_registered_task_missing_part_of_the_contract_is_a_one_line_error():
    from games import registry
    from games.sort import SortTask

    class Unsigned(SortTask):
        @property
        def signature(self):
            raise AttributeError("signature")

    try:
        games.register("unsigned2", lambda: SortTask(2))
        with pytest.raises(ValueError, match="must return a games.Task named 'unsigned2'"):
            games.task("unsigned2")
        unsigned = Unsigned(2)
        unsigned.name = "unsigned2"
        games.register("unsigned2", lambda: unsigned)
        with pytest.raises(ValueError, match="task unsigned2 sets no signature"):
            games.task("unsigned2")
    finally:
        registry._REGISTRY.pop("unsigned2", None)


def test_a_signature_binds_the_data_region_to_rdi_and_a_task_missing_a_method_is_a_one_line_error():
    from games import registry
    with pytest.raises(ValueError, match="exactly one pointer"):
        games.Signature((games.Param("n", "size_t", "rdi"),))
    with pytest.raises(ValueError, match="System V order"):
        games.Signature((games.Param("p", "const uint8_t *", "rsi"),))

    class Unjudged(games.Task):
        name = "unjudged"

    try:
        games.register("unjudged", Unjudged)
        with pytest.raises(ValueError, match="task unjudged cannot be built: .*abstract"):
            games.task("unjudged")
    finally:
        registry._REGISTRY.pop("unjudged", None)
