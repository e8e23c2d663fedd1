"""The cycle model in the game (`latency="cycles"`, games/cycles.py) against its host twin
(`isa.latency.model_cycles`), and the game's contract with it."""
import copy

import jax
import pytest

import games
import isa
from games import cycles
from games.rollouts import random_episodes


def _random_finals(game, episodes, seed):
    finals = jax.device_get(random_episodes(game)(jax.random.split(jax.random.PRNGKey(seed), episodes))[0])
    return [jax.tree_util.tree_map(lambda x, b=b: x[b], finals) for b in range(episodes)]


# end_lost off: random episodes then run long enough to hold compares, cmovs and jumps.
@pytest.mark.parametrize("name", ["sort3", "varsort3", "hash9to16"])
def test_incremental_cycles_equal_the_host_twin_on_random_episodes(name):
    game = games.make(name, latency="cycles", rules={"end_lost": False})
    lengths, jumps = [], 0
    for final in _random_finals(game, 12, seed=3):
        program = game.program(final)
        lengths.append(len(program))
        jumps += sum(ins.target is not None for ins in program)
        got = float(cycles.cycles(game.cycle_table, final.timing))
        assert got == pytest.approx(game.model_cycles(program), abs=1e-4), isa.to_text(program)
    assert max(lengths) >= 8  # the episodes are not trivially short
    if name == "varsort3":
        assert jumps > 0  # and the branchy game's hold jumps


def test_the_critical_path_counts_not_the_length():
    # Four instructions each: a chain of dependent moves after a load, or moves all from the load.
    chain = isa.parse("mov eax, dword ptr [rdi]\nmov ecx, eax\nmov edx, ecx\nmov esi, edx\n")
    spread = isa.parse("mov eax, dword ptr [rdi]\nmov ecx, eax\nmov edx, eax\nmov esi, eax\n")
    game = games.make("sort2", latency="cycles")
    assert game.model_cycles(chain) == isa.latency.model_cycles(chain) == 8
    assert isa.latency.model_cycles(spread) == 6


def test_cycles_latency_needs_scheduling_data_for_the_cpu():
    task = copy.copy(games.make("sort2").task)
    task.mcpu = "no-such-cpu"
    with pytest.raises(ValueError, match="no scheduling data for mcpu 'no-such-cpu'"):
        games.Game(task, games.Config(latency="cycles"))
